#pragma once
// recognition: see docs/ and the headers in rfcf/recognition/.
#include "rfcf/recognition/alignment.hpp"
