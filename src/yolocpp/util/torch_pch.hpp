// Precompiled header for every translation unit that uses LibTorch (see cmake/YolocppModule.cmake).
#pragma once
#include <torch/torch.h>
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>
