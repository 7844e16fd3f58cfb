#pragma once
// io: checkpoint and data file readers/writers (see docs/checkpoints.md).
#include "rfcf/io/atomic_file.hpp"
#include "rfcf/io/dtype.hpp"
#include "rfcf/io/file_bytes.hpp"
#include "rfcf/io/host_tensor.hpp"
#include "rfcf/io/insightface_bin.hpp"
#include "rfcf/io/pickle.hpp"
#include "rfcf/io/py_value.hpp"
#include "rfcf/io/safetensors.hpp"
#include "rfcf/io/torch_file.hpp"
#include "rfcf/io/zip.hpp"
