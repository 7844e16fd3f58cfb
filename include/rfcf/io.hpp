#pragma once
// io: see docs/ and the headers in rfcf/io/.
