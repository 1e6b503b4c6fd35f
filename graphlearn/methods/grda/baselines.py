"""Baselines run beside GRDA with the same encoder, predictor, batches and schedule.

* ``source-only``: :class:`~graphlearn.methods.grda.method.AdaptationMethod` itself (no adversary).
* ``dann``: a domain classifier over all ``D`` domains behind a gradient-reversal layer (Ganin et al., JMLR 2016,
  in the multi-domain form GRDA's paper compares against): the classifier minimises the domain cross-entropy,
  the encoder maximises it, which pushes every domain onto one distribution regardless of the graph.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .method import AdaptationMethod
from .models import DomainClassifier, GradientReversal

SourceOnly = AdaptationMethod


class DANN(AdaptationMethod):
    """Domain-adversarial training with a gradient-reversal layer (one optimizer step per batch)."""

    name = "dann"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reverse = GradientReversal(self.cfg.lambda_adv)
        self.discriminator = DomainClassifier(
            self.cfg.hidden, len(self.embedding), self.cfg.disc_layers, negative_slope=self.cfg.disc_negative_slope
        )

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        self.opt = torch.optim.Adam(
            [
                {"params": list(self.encoder.parameters()) + list(self.predictor.parameters()), "lr": self.cfg.lr},
                {"params": self.discriminator.parameters(), "lr": self.cfg.lr_d},
            ],
            betas=(0.9, 0.999),
            weight_decay=self.cfg.weight_decay,
        )
        return [self.opt]

    def training_step(self, x: Tensor, y: Tensor, domain: Tensor) -> dict[str, float]:
        z = self.encode(x, domain)
        logits = self.discriminator(self.reverse(z))
        loss_d = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), domain.reshape(-1))
        loss_pred = self.task_loss(z, y)
        self.opt.zero_grad()
        (loss_pred + loss_d).backward()  # the reversal layer turns +loss_d into -lambda * loss_d for the encoder
        if self.cfg.official_update:  # the official shared-graph step leaves D (1 - lambda) dL_D
            for p in self.discriminator.parameters():
                if p.grad is not None:
                    p.grad.mul_(1.0 - self.cfg.lambda_adv)
        self.opt.step()
        return {"loss_pred": loss_pred.item(), "loss_d": loss_d.item()}
