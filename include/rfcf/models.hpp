#pragma once
// Network definitions: RetinaFace (MobileNetV1-0.25, ResNet-50 bodies), IResNet, IR/IR-SE,
// MobileFaceNet (CASIA layout) and arcface_torch "mbf".
#include "rfcf/models/conv_blocks.hpp"
#include "rfcf/models/detection_head.hpp"
#include "rfcf/models/fpn.hpp"
#include "rfcf/models/imagenet_backbone.hpp"
#include "rfcf/models/ir_se.hpp"
#include "rfcf/models/iresnet.hpp"
#include "rfcf/models/mobilefacenet.hpp"
#include "rfcf/models/mobilefacenet_insightface.hpp"
#include "rfcf/models/mobilenet_v1.hpp"
#include "rfcf/models/multiscale.hpp"
#include "rfcf/models/resnet50.hpp"
#include "rfcf/models/retinaface.hpp"
#include "rfcf/models/ssh.hpp"
