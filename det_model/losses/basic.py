"""Loss pieces of DB (Liao et al., 2020), with PaddleOCR's exact reductions.

All sums run over the whole batch tensor, as in PaddleOCR's `det_basic_loss.py`.
"""

from __future__ import annotations

import paddle
import paddle.nn.functional as F

Tensor = paddle.Tensor


def dice_loss(pred: Tensor, gt: Tensor, mask: Tensor, eps: float = 1e-6) -> Tensor:
    """L = 1 - 2·Σ(p·g·m) / (Σ(p·m) + Σ(g·m) + eps), a scalar."""
    intersection = (pred * gt * mask).sum()
    union = (pred * mask).sum() + (gt * mask).sum() + eps
    return 1.0 - 2.0 * intersection / union


def mask_l1_loss(pred: Tensor, gt: Tensor, mask: Tensor, eps: float = 1e-6) -> Tensor:
    """L_t of DB eq. 9: Σ(|p - g|·m) / (Σm + eps)."""
    return ((pred - gt).abs() * mask).sum() / (mask.sum() + eps)


def balance_loss(
    pred: Tensor,
    gt: Tensor,
    mask: Tensor,
    *,
    main_loss_type: str = "DiceLoss",
    negative_ratio: float = 3.0,
    balance: bool = True,
    eps: float = 1e-6,
) -> Tensor:
    """PaddleOCR's BalanceLoss: positives plus the hardest `negative_ratio`·P negatives (OHEM).

    With `main_loss_type: DiceLoss` (every PP-OCRv3 config) the per-pixel loss is the scalar Dice value d, so
    OHEM picks nothing special and the result is d·(P+N)/(P+N+eps), or exactly 0 when a batch has no
    positive pixel. That is reproduced in closed form (no sort of the whole batch tensor).
    """
    positive = gt * mask
    negative = (1.0 - gt) * mask
    positive_count = paddle.floor(positive.sum())
    negative_count = paddle.minimum(paddle.floor(negative.sum()), positive_count * negative_ratio)
    if main_loss_type == "DiceLoss":
        loss = dice_loss(pred, gt, mask, eps)
        if not balance:
            return loss
        # Σ(positive·d) + d·N over P + N (+eps); the N negatives each weigh d (binary labels and masks).
        return loss * (positive.sum() + negative_count) / (positive_count + negative_count + eps)
    if main_loss_type == "MaskL1Loss":
        loss = mask_l1_loss(pred, gt, mask, eps)
        if not balance:
            return loss
        return loss * (positive.sum() + negative_count) / (positive_count + negative_count + eps)
    if main_loss_type == "BCELoss":
        pixel_loss = F.binary_cross_entropy(pred.clip(1e-7, 1 - 1e-7), gt, reduction="none")
    elif main_loss_type == "Euclidean":
        pixel_loss = (pred - gt) ** 2
    else:
        raise ValueError(
            f"main_loss_type {main_loss_type!r} is not supported; known: BCELoss, DiceLoss, Euclidean, MaskL1Loss"
        )
    if not balance:
        return (pixel_loss * mask).sum() / (mask.sum() + eps)
    positive_loss = (positive * pixel_loss).sum()
    k = int(negative_count.item())
    if k == 0:
        return positive_loss / (positive_count + eps)
    hardest_negatives = paddle.topk((negative * pixel_loss).flatten(), k).values.sum()
    return (positive_loss + hardest_negatives) / (positive_count + negative_count + eps)


def dilate_2x2(binary: Tensor) -> Tensor:
    """cv2.dilate with a 2x2 all-ones kernel and OpenCV's default anchor: out[y, x] = max(in[y-1:y+1, x-1:x+1]).

    `binary` is [N, H, W] float in {0, 1}.
    """
    padded = F.pad(binary.unsqueeze(1), [1, 0, 1, 0], value=0.0, data_format="NCHW")
    return F.max_pool2d(padded, kernel_size=2, stride=1).squeeze(1)
