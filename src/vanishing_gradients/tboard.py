"""Optional TensorBoard output (config ``tensorboard: true``): per-layer gradient norms and gradient histograms.

pip install -e '.[tensorboard]'; tensorboard --logdir results/<study>/tensorboard
"""

from __future__ import annotations

import torch

from .callbacks import EPOCHS, Callback, epoch_values


class TensorBoardLogger(Callback):
    """Per epoch: every per-epoch statistic of every layer (those the callbacks declare: mean gradient norm,
    update ratio, weight norm, ...), the losses and accuracies, and a histogram of each layer's weight gradient
    at the epoch's last step."""

    def __init__(self, log_dir: str):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise RuntimeError(
                "config `tensorboard: true` needs the tensorboard package: "
                "pip install -e '.[tensorboard]' (or set tensorboard: false)"
            ) from err
        self.writer = SummaryWriter(log_dir)

    def start_epoch(self, model) -> None:
        self.layers = [(name, linear.weight) for name, linear in model.linears() if linear.weight.requires_grad]
        self.last_grads = [torch.empty_like(w) for _, w in self.layers]

    def before_step(self) -> None:
        torch._foreach_copy_(self.last_grads, [w.grad for _, w in self.layers])  # reused buffers, no allocation

    def epoch_done(self, row: dict, records: dict) -> None:
        epoch = row["epoch"]
        for key in ("train_loss", "val_loss", "train_acc", "val_acc"):
            self.writer.add_scalar(f"metrics/{key}", row[key], epoch)
        for stat in records[EPOCHS]["statistics"]:
            for layer, value in epoch_values(records[EPOCHS], stat).items():
                self.writer.add_scalar(f"{stat}/{layer}", value, epoch)
        for (layer, _), grad in zip(self.layers, self.last_grads, strict=True):
            self.writer.add_histogram(f"gradient/{layer}", grad.detach().cpu(), epoch)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
