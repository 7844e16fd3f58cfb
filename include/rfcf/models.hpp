#pragma once
// models: see docs/ and the headers in rfcf/models/.
