#!/usr/bin/env python3
"""Generates the PyTorch reference fixtures for training (optimizers) and for loading a model trained
in PyTorch.

Run by hand (needs `pip install torch safetensors numpy`):

    python3 tools/gen_train_fixtures.py      # writes crates/lstm/tests/fixtures/train/*.safetensors

1. `optim_<name>.safetensors`, one per optimizer: a float32 model (`lstm` = nn.LSTM(3, 5), `head` =
   nn.Linear(5, 2) on every step, MSE loss), an input and a target; then 3 training steps computed in
   float64 from the float32 initial values, with `clip_grad_norm_(max_norm=0.5)` and weight decay on.
   Tensors: `init.<param>` (f32), `input.x`, `input.target` (f32), `step{k}.<param>` (f64, after step k),
   `step{k}.norm` (f64, the pre-clip gradient norm). metadata["case"]: the optimizer and its settings.
2. `tiny_classifier.safetensors`: a bare state_dict (`save_file(model.state_dict())`) of a model trained
   here for 200 steps: `embedding` (nn.Embedding(6, 4)) -> `lstm` (nn.LSTM(4, 8, bidirectional=True))
   -> `head` (nn.Linear(16, 3)) on concat(h_n[-2], h_n[-1]); and `tiny_classifier.io.safetensors`:
   token inputs `x` [T, B] (as f32) and the float64 logits `logits` [B, 3].
"""
import copy
import json
import os

import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "lstm", "tests", "fixtures", "train")


class Seq(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(3, 5)
        self.head = torch.nn.Linear(5, 2)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.head(y)


OPTIMS = [
    ("sgd", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
     dict(kind="sgd", lr=0.1, momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.01)),
    ("sgd_nesterov", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.02),
     dict(kind="sgd", lr=0.05, momentum=0.8, dampening=0.0, nesterov=True, weight_decay=0.02)),
    ("adam", lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.01),
     dict(kind="adam", lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01)),
    ("adamw", lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1),
     dict(kind="adam_w", lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1)),
    ("rmsprop", lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, momentum=0.5, weight_decay=0.01),
     dict(kind="rms_prop", lr=0.01, alpha=0.9, eps=1e-8, momentum=0.5, weight_decay=0.01)),
]


def optim_case(seed, name, make, settings):
    torch.manual_seed(seed)
    m32 = Seq()
    x = torch.randn(6, 4, 3)
    target = torch.randn(6, 4, 2)
    t = {"init." + k: v.detach().clone() for k, v in m32.state_dict().items()}
    t["input.x"] = x
    t["input.target"] = target
    m = copy.deepcopy(m32).double()
    opt = make(m.parameters())
    for k in range(1, 4):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(m(x.double()), target.double())
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(m.parameters(), max_norm=0.5)
        opt.step()
        t[f"step{k}.norm"] = norm.detach().reshape(1)
        for n, p in m.state_dict().items():
            t[f"step{k}.{n}"] = p.detach().clone()
    case = dict(name=name, optimizer=settings, clip=0.5, loss="mse", torch=torch.__version__)
    save_file({k: v.contiguous() for k, v in t.items()}, os.path.join(OUT, f"optim_{name}.safetensors"),
              metadata={"case": json.dumps(case), "generator": "tools/gen_train_fixtures.py"})


class Classifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = torch.nn.Embedding(6, 4)
        self.lstm = torch.nn.LSTM(4, 8, bidirectional=True)
        self.head = torch.nn.Linear(16, 3)

    def forward(self, x):
        _, (h, _) = self.lstm(self.embedding(x))
        return self.head(torch.cat([h[-2], h[-1]], dim=1))


def tiny_classifier():
    torch.manual_seed(7)
    m = Classifier()
    opt = torch.optim.Adam(m.parameters(), lr=0.01)
    for _ in range(200):
        x = torch.randint(0, 6, (9, 16))
        y = (x == 5).sum(0).clamp(max=2)  # how many 5s: 0, 1, 2+
        opt.zero_grad()
        torch.nn.functional.cross_entropy(m(x), y).backward()
        opt.step()
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, os.path.join(OUT, "tiny_classifier.safetensors"))
    x = torch.randint(0, 6, (9, 5))
    with torch.no_grad():
        logits = copy.deepcopy(m).double()(x)
    save_file({"x": x.float(), "logits": logits}, os.path.join(OUT, "tiny_classifier.io.safetensors"),
              metadata={"generator": "tools/gen_train_fixtures.py"})


def main():
    os.makedirs(OUT, exist_ok=True)
    for seed, (name, make, settings) in enumerate(OPTIMS):
        optim_case(seed, name, make, settings)
        print("wrote optim", name)
    tiny_classifier()
    print("wrote tiny_classifier")


if __name__ == "__main__":
    main()
