#pragma once
// Atomic file replacement: the content goes to "<path>.tmp-<random>" in the same directory,
// is flushed to disk (fsync), then renamed over <path>. Readers see either the old file or
// the complete new one; on any failure the temporary file is removed and <path> is untouched.
#include "rfcf/core/error.hpp"
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>
