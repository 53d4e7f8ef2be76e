"""PyTorch reference for cyberlm's GPT: the same model, data layout and batch, timed the
same way, so `bench/model.sh` can print cyberlm's throughput as a ratio of PyTorch's.

The model mirrors model/src/gpt.rs: learned token and position embeddings, pre-LayerNorm
blocks (fused qkv projection, causal scaled-dot-product attention, 4x MLP with exact
GELU), final LayerNorm, linear head with bias; dropout where cyberlm has it (embeddings,
attention and MLP outputs; 0.1 in the seed presets); AdamW (beta2 0.95, eps 1e-8), global
gradient-norm clipping at 1.0. Windows are read from the token file cyberlm wrote
(`cyberlm bench-model --export-windows`), so both sides train on the same bytes.

Initialisation is cyberlm's (model/src/gpt.rs): normal(0, 0.02) for the embeddings and
the linear layers, biases included (burn draws a linear layer's bias from its weight's
initializer), the residual projections at 0.02 / sqrt(2 * layers). With `--init` the
reference starts from the very weights cyberlm started from (`bench-model
--export-init`, safetensors, read here without the safetensors package, which a GPU host
may lack); with dropout off on both sides (`--dropout 0`), the two then follow the same
losses step by step, up to float rounding, which is what `"losses"` is for.

    python bench/gpt_reference.py --preset tiny --windows W.bin --steps 20 [--compile]
        [--device cuda] [--precision f32|tf32|bf16] [--init W.safetensors] [--dropout P]

On a GPU (`bench/gpu.sh`), `--precision` picks plain float32 matrix products (PyTorch's
default, the same arithmetic as cyberlm), TF32 tensor cores, or bf16 autocast; every
timed region ends with a device synchronisation.

Prints one JSON object: training, scoring and generation figures and peak memory.
"""

import argparse
import json
import math
import resource
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {  # model/src/config.rs, dropout included
    "tiny": dict(layers=2, heads=2, width=64, context=256, dropout=0.0),
    "small": dict(layers=4, heads=4, width=128, context=1024, dropout=0.0),
    "seed-85m": dict(layers=12, heads=12, width=768, context=2048, dropout=0.1),
    "seed-120m": dict(layers=12, heads=14, width=896, context=7000, dropout=0.1),
}
VOCAB = 259
BEGIN_LOG, END_LOG, PAD = 256, 257, 258


class Block(nn.Module):
    def __init__(self, width, heads, dropout):
        super().__init__()
        self.heads = heads
        self.dropout = nn.Dropout(dropout)
        self.attention_norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.output = nn.Linear(width, width)
        self.mlp_norm = nn.LayerNorm(width)
        self.expand = nn.Linear(width, 4 * width)
        self.project = nn.Linear(4 * width, width)

    def attend(self, x, cache):
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        split = lambda y: y.view(b, t, self.heads, c // self.heads).transpose(1, 2)
        q, k, v = split(q), split(k), split(v)
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        causal = k.shape[2] == t
        y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return self.dropout(self.output(y.transpose(1, 2).contiguous().view(b, t, c)))

    def forward(self, x, cache=None):
        x = x + self.attend(self.attention_norm(x), cache)
        return x + self.dropout(self.project(F.gelu(self.expand(self.mlp_norm(x)))))


class Gpt(nn.Module):
    def __init__(self, layers, heads, width, context, dropout):
        super().__init__()
        self.context = context
        self.token_embedding = nn.Embedding(VOCAB, width)
        self.position_embedding = nn.Embedding(context, width)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList([Block(width, heads, dropout) for _ in range(layers)])
        self.final_norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, VOCAB)
        residual_std = 0.02 / math.sqrt(2 * layers)
        for name, parameter in self.named_parameters():
            if "norm" in name:
                continue  # ones and zeros, as PyTorch's and burn's layer norms start
            residual = name.split(".")[-2] in ("output", "project")
            nn.init.normal_(parameter, 0.0, residual_std if residual else 0.02)

    def forward(self, tokens, caches=None, start=0):
        t = tokens.shape[1]
        positions = torch.arange(start, start + t, device=tokens.device)
        x = self.dropout(self.token_embedding(tokens) + self.position_embedding(positions))
        for i, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[i])
        return self.head(self.final_norm(x))


def read_safetensors(path):
    """Name -> float32 array of a safetensors file (F32 or BF16 tensors): an 8-byte
    little-endian header length, a JSON header of names, dtypes, shapes and byte ranges,
    then the data."""
    raw = open(path, "rb").read()
    length = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + length])
    data = memoryview(raw)[8 + length :]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        if entry["dtype"] == "F32":
            values = np.frombuffer(data[begin:end], dtype="<f4")
        elif entry["dtype"] == "BF16":  # the upper half of a float32
            values = (np.frombuffer(data[begin:end], dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise SystemExit(f"{path}: tensor {name} is {entry['dtype']}; only F32 and BF16 are read")
        tensors[name] = values.reshape(entry["shape"])
    return tensors


def load_cyberlm_weights(model, path):
    """Copies cyberlm's weights into `model`, every parameter exactly once. cyberlm's names
    nest the block's layers one level deeper (`blocks.0.attention.qkv`, `blocks.0.mlp.expand`)
    and call a layer norm's parameters gamma and beta; burn stores a linear layer's weight
    as [inputs, outputs], PyTorch as [outputs, inputs]."""
    ours = dict(model.named_parameters())
    loaded = set()
    for name, values in read_safetensors(path).items():
        target = name.replace(".attention.", ".").replace(".mlp.", ".")
        target = target.replace(".gamma", ".weight").replace(".beta", ".bias")
        if target not in ours:
            raise SystemExit(f"{path}: cyberlm's {name} has no counterpart ({target}) in the reference")
        if values.ndim == 2 and "embedding" not in name:
            values = values.T
        parameter = ours[target]
        if tuple(values.shape) != tuple(parameter.shape):
            raise SystemExit(f"{path}: {name} is {values.shape}, the reference's {target} {tuple(parameter.shape)}")
        with torch.no_grad():
            parameter.copy_(torch.from_numpy(np.array(values, dtype=np.float32)))
        loaded.add(target)
    missing = sorted(set(ours) - loaded)
    if missing:
        raise SystemExit(f"{path}: no weights for {', '.join(missing)}")


def windows(path, batch, context):
    data = np.fromfile(path, dtype=np.int64)
    rows = data.reshape(-1, 2, context)  # (inputs, targets) pairs written by cyberlm
    return rows


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--windows", required=True)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--generate", type=int, default=8)
    parser.add_argument("--generate-bytes", type=int, default=200)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=["f32", "tf32", "bf16"], default="f32")
    parser.add_argument("--init", help="cyberlm's initial weights (bench-model --export-init)")
    parser.add_argument("--dropout", type=float, help="instead of the preset's")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    torch.backends.cuda.matmul.allow_tf32 = args.precision == "tf32"
    torch.backends.cudnn.allow_tf32 = args.precision == "tf32"
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")

    def sync():
        if gpu:
            torch.cuda.synchronize()

    torch.manual_seed(0)
    p = dict(PRESETS[args.preset])
    if args.dropout is not None:
        p["dropout"] = args.dropout
    model = Gpt(**p)
    if args.init:
        load_cyberlm_weights(model, args.init)
    model = model.to(device)
    rows = windows(args.windows, args.batch, p["context"])
    step_model = torch.compile(model) if args.compile else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.01)

    def batch(i):
        idx = [(i * args.batch + j) % len(rows) for j in range(args.batch)]
        chunk = torch.from_numpy(rows[idx]).to(device, non_blocking=True)
        inputs, targets = chunk[:, 0], chunk[:, 1]
        weights = (targets != PAD).float()
        return inputs, targets.clamp(max=VOCAB - 1), weights

    def train_step(i):
        inputs, targets, weights = batch(i)
        with autocast:
            logits = step_model(inputs)
        nll = F.cross_entropy(logits.float().view(-1, VOCAB), targets.view(-1), reduction="none")
        loss = (nll * weights.view(-1)).sum() / weights.sum().clamp(min=1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss.item(), int(weights.sum())

    # Every step's loss, warm-up included, as cyberlm reports them.
    losses = []
    for i in range(3):  # warm-up (and compilation)
        losses.append(train_step(i)[0])
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    tokens = 0
    start = time.perf_counter()
    for i in range(3, 3 + args.steps):
        loss, n = train_step(i)
        losses.append(loss)
        tokens += n
    train_s = time.perf_counter() - start

    train_peak_mib = torch.cuda.max_memory_allocated() / 2**20 if gpu else 0.0

    model.eval()
    with torch.no_grad(), autocast:
        score_tokens = score_logs = 0
        for i in range(2):
            step_model(batch(i)[0])
        sync()
        start = time.perf_counter()
        for i in range(args.steps):
            inputs, _, weights = batch(i)
            step_model(inputs)
            score_tokens += int(weights.sum())
            score_logs += int((inputs == BEGIN_LOG).sum())
        sync()
        score_s = time.perf_counter() - start

        prompt = torch.full((args.generate, 1), BEGIN_LOG, dtype=torch.long, device=device)

        def generate(cached):
            seq = prompt
            caches = [dict() for _ in model.blocks] if cached else None
            logits = model(seq, caches)
            for n in range(args.generate_bytes):
                nxt = torch.multinomial(F.softmax(logits[:, -1], dim=-1), 1).clamp(max=255)
                seq = torch.cat([seq, nxt], dim=1)
                logits = model(nxt, caches, start=seq.shape[1] - 1) if cached else model(seq)
            return seq

        generate(True)
        sync()
        start = time.perf_counter()
        generate(True)
        sync()
        cached_s = time.perf_counter() - start
        start = time.perf_counter()
        generate(False)
        sync()
        uncached_s = time.perf_counter() - start

    print(json.dumps({
        "impl": ("pytorch-compile" if args.compile else "pytorch-eager") + f"-{args.precision}",
        "device": torch.cuda.get_device_name(device) if gpu else "cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "preset": args.preset,
        "train_tokens_per_s": tokens / train_s,
        "final_loss": loss,
        "losses": losses,
        "init": args.init or "own",
        "dropout": p["dropout"],
        "score_tokens_per_s": score_tokens / score_s,
        "score_logs_per_s": score_logs / score_s,
        "generate_logs_per_s_cached": args.generate / cached_s,
        "generate_logs_per_s_uncached": args.generate / uncached_s,
        "generate_bytes": args.generate_bytes,
        "peak_rss_mib": peak_rss_mib(),
        "peak_gpu_train_mib": train_peak_mib,
    }))


if __name__ == "__main__":
    main()
