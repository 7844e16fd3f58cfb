#pragma once
// data: see docs/ and the headers in rfcf/data/.
