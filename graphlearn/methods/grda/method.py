"""The shared encoder + predictor of every adaptation method, and GRDA itself.

Every method sees the same batches: ``x [D, B, F]``, ``y [D, B]`` (classes) or ``[D, B, K]`` (values) and
``domain [D, B]`` -- ``B`` samples from *each* of the ``D`` domains -- and uses only the rows of source domains for
the task loss. Methods differ in their adversary only, so a baseline gap is the adversary's doing.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .graph import graph_reconstruction_loss, sample_domain_subgraph, subgraph_pairs
from .models import DomainEncoder, GraphDiscriminator, Predictor


class AdaptationMethod(nn.Module):
    """Encoder ``E(x, u_domain)`` and predictor ``F(z)``, trained on the labelled source domains only.

    Args:
        in_channels (int): feature width.
        out_channels (int): classes, or regression outputs.
        embedding (Tensor): ``[D, k]`` domain-node embeddings fed to the encoder.
        adjacency (Tensor): ``[D, D]`` domain graph.
        source (Tensor): bool ``[D]`` source domains.
        task (str): ``"classification"`` or ``"regression"``.
        cfg: an :class:`~graphlearn.methods.grda.trainer.AdaptConfig`.
        rng (numpy Generator, optional): randomness of the domain-subgraph sampler.

    Saved and loaded with :mod:`graphlearn.model_io` (``hparams`` holds the domain tensors and ``cfg`` as a dict; the
    sampler's ``rng`` is training state only and a loaded model gets a fresh one).
    """

    name = "source-only"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        embedding: Tensor,
        adjacency: Tensor,
        source: Tensor,
        task: str,
        cfg,
        rng: np.random.Generator | None = None,
    ):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.task, self.cfg = task, cfg
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.register_buffer("embedding", embedding.float())
        self.register_buffer("adjacency", adjacency.float())
        self.register_buffer("source", source.bool())
        self.encoder = DomainEncoder(in_channels, embedding.shape[1], cfg.hidden, cfg.encoder_layers, cfg.dropout)
        self.predictor = Predictor(cfg.hidden, out_channels, cfg.predictor_layers, cfg.dropout)

    @property
    def hparams(self) -> dict:
        """Constructor arguments (saved with the model, see :mod:`graphlearn.model_io`); ``cfg`` as a dict."""
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "embedding": self.embedding.detach().cpu(),
            "adjacency": self.adjacency.detach().cpu(),
            "source": self.source.detach().cpu(),
            "task": self.task,
            "cfg": self.cfg.to_dict(),
        }

    @classmethod
    def from_hparams(cls, hparams: dict) -> AdaptationMethod:
        """The model :attr:`hparams` describe (untrained; ``cfg`` back as an ``AdaptConfig``)."""
        from .trainer import AdaptConfig  # trainer imports this module

        return cls(**{**hparams, "cfg": AdaptConfig.from_dict(hparams["cfg"])})

    # ----------------------------------------------------------------------------------------------- forward
    def encode(self, x: Tensor, domain: Tensor) -> Tensor:
        return self.encoder(x, self.embedding[domain])

    def forward(self, x: Tensor, domain: Tensor) -> Tensor:
        """Predictions (logits or values) for ``x [..., F]`` from domains ``domain [...]``."""
        return self.predictor(self.encode(x, domain))

    def task_loss(self, z: Tensor, y: Tensor) -> Tensor:
        """Supervised loss on the source rows of a ``[D, B, h]`` batch."""
        out, y = self.predictor(z[self.source]), y[self.source]
        if self.task == "classification":
            out, y = out.reshape(-1, out.shape[-1]), y.reshape(-1)
            if self.cfg.pred_log_eps > 0:  # the official PredNet's log(softmax + 1e-4): bounded per-sample loss
                return F.nll_loss(torch.log(F.softmax(out, -1) + self.cfg.pred_log_eps), y)
            return F.cross_entropy(out, y)
        return F.mse_loss(out, y)

    # ---------------------------------------------------------------------------------------------- training
    def _adam(self, params, lr: float) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), weight_decay=self.cfg.weight_decay)

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        self.opt = self._adam(list(self.encoder.parameters()) + list(self.predictor.parameters()), self.cfg.lr)
        return [self.opt]

    def training_step(self, x: Tensor, y: Tensor, domain: Tensor) -> dict[str, float]:
        loss = self.task_loss(self.encode(x, domain), y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"loss_pred": loss.item()}


class GRDA(AdaptationMethod):
    """Graph-relational domain adaptation: the adversary reconstructs the domain graph from ``z``.

    One step alternates: (1) the discriminator ``D`` minimises the reconstruction loss on a sampled domain
    subgraph with ``z`` fixed; (2) encoder and predictor minimise ``task loss - lambda * reconstruction loss`` on a
    freshly sampled subgraph with ``D`` fixed. At the game's equilibrium ``E[A_ij | z, z']`` no longer depends on
    ``z`` (the paper's analysis): representations are aligned *relative to the graph*; with a clique it is DANN.

    ``cfg.disc_radius`` (off by default, as in the paper) rescales the codes ``d`` to a fixed norm, which removes the
    uninformative saddle ``d = 0`` of the inner-product loss (see docs/grda.md for what it does and does not change).
    """

    name = "grda"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.discriminator = GraphDiscriminator(
            self.cfg.hidden, self.cfg.disc_dim, self.cfg.disc_layers, negative_slope=self.cfg.disc_negative_slope
        )

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        opts = super().configure_optimizers()
        self.opt_d = self._adam(self.discriminator.parameters(), self.cfg.lr_d)
        return opts + [self.opt_d]

    def reconstruction_loss(self, z: Tensor) -> Tensor:
        """Graph-reconstruction loss of ``D(z)`` on one sampled domain subgraph; ``z`` is ``[D, B, h]``."""
        nodes = sample_domain_subgraph(self.adjacency.cpu().numpy(), self.cfg.sample_v, self.rng)
        u, v = (torch.as_tensor(t, device=z.device) for t in subgraph_pairs(nodes))
        d = self.discriminator(z)
        if self.cfg.disc_radius:  # codes on a sphere: D cannot retreat to the uninformative saddle d = 0
            d = self.cfg.disc_radius * F.normalize(d, dim=-1)
        return self.cfg.disc_loss_scale * graph_reconstruction_loss(d, self.adjacency, u, v)

    def official_step(self, x: Tensor, y: Tensor, domain: Tensor) -> dict[str, float]:
        """The official ``__optimize__`` semantics: one subgraph, one forward; ``loss_D`` is back-propagated, then
        ``loss_E = loss_pred - lambda * loss_D`` through the same graph, then both optimizers step. ``D`` thus
        receives ``(1 - lambda) dL_D`` (nothing at lambda = 1: it keeps its initial weights) and the encoder
        ``d(loss_pred - lambda * L_D)``."""
        z = self.encode(x, domain)
        loss_d = self.reconstruction_loss(z)
        loss_pred = self.task_loss(z, y)
        loss_e = loss_pred - self.cfg.lambda_adv * loss_d
        self.opt_d.zero_grad()
        loss_d.backward(retain_graph=True)
        self.opt.zero_grad()  # drops what loss_d left on the encoder/predictor
        loss_e.backward()  # adds -lambda * dL_D to the discriminator's gradient
        self.opt_d.step()
        self.opt.step()
        return {"loss_pred": loss_pred.item(), "loss_d": loss_d.item(), "loss_adv": loss_d.item()}

    def training_step(self, x: Tensor, y: Tensor, domain: Tensor) -> dict[str, float]:
        if self.cfg.official_update:
            return self.official_step(x, y, domain)
        z = self.encode(x, domain)
        z_fixed = z.detach()
        for _ in range(self.cfg.d_steps):
            loss_d = self.reconstruction_loss(z_fixed)
            self.opt_d.zero_grad()
            loss_d.backward()
            self.opt_d.step()

        self.discriminator.requires_grad_(False)
        loss_adv = self.reconstruction_loss(z)
        loss_pred = self.task_loss(z, y)
        loss = loss_pred - self.cfg.lambda_adv * loss_adv
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.discriminator.requires_grad_(True)
        return {"loss_pred": loss_pred.item(), "loss_d": loss_d.item(), "loss_adv": loss_adv.item()}
