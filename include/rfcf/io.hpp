#pragma once
// io: checkpoint and data file readers/writers (see docs/checkpoints.md).
#include "rfcf/io/atomic_file.hpp"
#include "rfcf/io/dtype.hpp"
#include "rfcf/io/file_bytes.hpp"
#include "rfcf/io/host_tensor.hpp"
#include "rfcf/io/safetensors.hpp"
