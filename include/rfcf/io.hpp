#pragma once
// io: see docs/ and the headers in rfcf/io/.
#include "rfcf/io/atomic_file.hpp"
#include "rfcf/io/draw.hpp"
#include "rfcf/io/font.hpp"
#include "rfcf/io/image.hpp"
#include "rfcf/io/image_folder.hpp"
#include "rfcf/io/image_ops.hpp"
#include "rfcf/io/plot.hpp"
#include "rfcf/io/recordio.hpp"
#include "rfcf/io/resize.hpp"
