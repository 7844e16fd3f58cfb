#pragma once
// Face recognition: margin policies and heads, verification metrics, embedding helpers, gallery,
// the training loop (trainer.hpp).
#include "rfcf/recognition/alignment.hpp"
#include "rfcf/recognition/embedder.hpp"
#include "rfcf/recognition/embeddings.hpp"
#include "rfcf/recognition/gallery.hpp"
#include "rfcf/recognition/lfw_pairs.hpp"
#include "rfcf/recognition/margin_functors.hpp"
#include "rfcf/recognition/margin_head.hpp"
#include "rfcf/recognition/margin_loss.hpp"
#include "rfcf/recognition/margin_policies.hpp"
#include "rfcf/recognition/trainer.hpp"
#include "rfcf/recognition/verification.hpp"
