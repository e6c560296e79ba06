// The error types are public (include/yolocpp/error.hpp: an application catches them around Detector); code
// inside yolocpp keeps including them by this name.
#pragma once
#include "yolocpp/error.hpp"
