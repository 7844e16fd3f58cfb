#pragma once
// detection: see docs/ and the headers in rfcf/detection/.
