#pragma once
// io: see docs/ and the headers in rfcf/io/.
#include "rfcf/io/mat.hpp"
