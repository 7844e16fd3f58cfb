#pragma once
// train: see docs/ and the headers in rfcf/train/.
