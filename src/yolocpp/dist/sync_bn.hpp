// SyncBatchNorm for DDP (`sync_bn=True`, as torch.nn.SyncBatchNorm): BatchNorm2d in training mode normalised with the
// statistics of the GLOBAL batch (all ranks together) instead of each rank's own slice. LibTorch's C++
// frontend has no SyncBatchNorm (it is Python-only in PyTorch), so this is a custom autograd function:
//
//   forward:  per channel, local count, sum and sum of squares (from a two-pass fp32 mean/var, carried in
//             fp64) -> ONE all-reduce -> global mean and biased variance to normalise, unbiased variance
//             (global count) for running_var, with the module's momentum.
//   backward: local sum(dy) and sum(dy * xhat) -> ONE all-reduce -> the standard BatchNorm input gradient
//             with the global count. Weight and bias gradients stay LOCAL sums: the GradReducer averages
//             them over ranks like every other gradient.
//
// Scaling: every rank back-propagates its own loss (as DDP does) and the backward sums the ranks' dy, so each
// rank's gradient is world_size x its share of the global gradient; the GradReducer's average over ranks then
// gives exactly the single-process, full-batch gradient (tests/ddp/test_sync_bn.cpp checks this to float
// rounding). Under autocast a half/bf16 input is normalised in fp32 and returned in its own dtype.
//
// Every rank must run the same BatchNorm layers in the same order (true for one model trained in lock-step);
// eval mode, a frozen layer's BatchNorm and world_size 1 use ordinary batch_norm.
#pragma once
#include <torch/torch.h>

#include "yolocpp/dist/distributed.hpp"

namespace yolocpp::engine {

// Training-mode BatchNorm2d of x over all ranks of `dist`, updating bn's running statistics and
// num_batches_tracked as BatchNorm2d does. world_size 1 or bn in eval mode -> bn->forward(x).
torch::Tensor sync_batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x, Distributed& dist);

// Makes every nn::Conv's BatchNorm in `model` synchronised across `dist`'s ranks while training; returns how
// many BatchNorm layers were switched. `dist` must outlive the model's training forwards (call
// disable_sync_batchnorm first if the model lives on). State-dict keys, fuse() and checkpoints are unchanged.
int enable_sync_batchnorm(torch::nn::Module& model, Distributed& dist);
// Back to per-process BatchNorm; returns how many layers were switched back.
int disable_sync_batchnorm(torch::nn::Module& model);

namespace detail {
// The synchronised path itself, also for world_size 1 (tests compare it with torch::batch_norm).
torch::Tensor sync_batch_norm_train(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x, Distributed& dist);
}  // namespace detail

}  // namespace yolocpp::engine
