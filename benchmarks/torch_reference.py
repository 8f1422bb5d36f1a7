"""The PyTorch reference: the same two models as ``vae_tf.build_encoder``/``build_decoder``
(2-D latent; the parameter counts match) and the same loss, trained the usual PyTorch way."""

from __future__ import annotations

import time

from benchmarks.children import EVAL_SEED, LATENT_DIM, load_images, timings
from benchmarks.flops import keras_train_flops


def torch_vae(arch: str):
    """The encoder and decoder of ``arch`` in PyTorch; returns
    ``(encoder, z_mean_head, z_log_var_head, decoder)``."""
    from torch import nn

    if arch == "mlp":
        encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU())
        width = 512
        decoder = nn.Sequential(nn.Linear(LATENT_DIM, 512), nn.ReLU(), nn.Linear(512, 784), nn.Unflatten(1, (1, 28, 28)))
    else:
        encoder = nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(7 * 7 * 64, 16), nn.ReLU(),
        )  # fmt: skip
        width = 16
        decoder = nn.Sequential(
            nn.Linear(LATENT_DIM, 16), nn.ReLU(), nn.Linear(16, 7 * 7 * 64), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 64, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 3, padding=1),
        )  # fmt: skip
    return encoder, nn.Linear(width, LATENT_DIM), nn.Linear(width, LATENT_DIM), decoder


def run_torch_child(cfg: dict) -> dict:
    """Train ``cfg`` in PyTorch: a shuffled index per epoch, ``torch.optim.Adam()`` with its
    defaults, a loop of ``zero_grad``/``backward``/``step``; same result fields as the Keras child."""
    import torch
    import torch.nn.functional as F

    import vae_tf

    x_train, x_test = load_images(cfg)
    torch.manual_seed(cfg["seed"])
    x = torch.from_numpy(vae_tf.scale_images(x_train)).permute(0, 3, 1, 2).contiguous()  # NCHW
    x_te = torch.from_numpy(x_test).permute(0, 3, 1, 2).contiguous()
    encoder, mean_head, log_var_head, decoder = torch_vae(cfg["arch"])
    modules = torch.nn.ModuleList([encoder, mean_head, log_var_head, decoder])
    optimizer = torch.optim.Adam(modules.parameters())

    def neg_elbo(xb):
        h = encoder(xb)
        z_mean, z_log_var = mean_head(h), log_var_head(h)
        z = z_mean + torch.exp(0.5 * z_log_var) * torch.randn_like(z_mean)
        logits = decoder(z)
        reconstruction = F.binary_cross_entropy_with_logits(logits, xb, reduction="none").sum(dim=(1, 2, 3))
        kl = -0.5 * (1 + z_log_var - z_mean.square() - z_log_var.exp()).sum(dim=1)
        return reconstruction + kl

    epoch_times, cpu_times = [], []
    n, bs = len(x), cfg["batch_size"]
    modules.train()
    for _ in range(cfg["epochs"]):
        t0, c0 = time.perf_counter(), time.process_time()
        order = torch.randperm(n)
        for i in range(0, n, bs):
            loss = neg_elbo(x[order[i : i + bs]]).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        epoch_times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
    modules.eval()
    torch.manual_seed(EVAL_SEED)
    with torch.no_grad():
        test = float(sum(neg_elbo(x_te[i : i + 1000]).sum() for i in range(0, len(x_te), 1000))) / len(x_te)
    return {
        **timings(n, epoch_times, cpu_times),
        "jit_compile": False,
        "steps_per_execution": 1,
        "test_neg_elbo": test,
        "train_flops_per_image": keras_train_flops(cfg["arch"]),
        "threads": torch.get_num_threads(),
        "framework": f"torch {torch.__version__}",
        "params": int(sum(p.numel() for p in modules.parameters())),
    }
