// Everything the validator and predictor use from metrics/, in one include.
#pragma once
#include "yolocpp/metrics/ap.hpp"
#include "yolocpp/metrics/boxes.hpp"
#include "yolocpp/metrics/confusion.hpp"
#include "yolocpp/metrics/nms.hpp"
#include "yolocpp/metrics/report.hpp"
