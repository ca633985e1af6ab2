#!/usr/bin/env python3
"""Generates the PyTorch reference fixtures for the recurrent engine's parity tests.

Run by hand (needs `pip install torch safetensors numpy`):

    python3 tools/gen_rnn_fixtures.py            # writes crates/lstm/tests/fixtures/rnn/*.safetensors

Each case builds a float32 `nn.LSTM` / `nn.GRU` / `nn.RNN` with a fixed seed, draws a float32 input,
initial state and upstream gradients, then recomputes everything in float64 from those float32 values:
outputs, final states and the gradients of

    loss = sum(y * d_y) + sum(h_n * d_hn) + sum(c_n * d_cn)

with respect to the input, the initial state and every parameter. Variable-length cases go through
`pack_padded_sequence(..., enforce_sorted=False)` / `pad_packed_sequence(total_length=T)`.

File layout (one .safetensors per case):
    lstm.<pytorch param name>      float32   the state_dict (module prefix `lstm.`)
    input.{x,h0,c0,d_y,d_hn,d_cn}  float32   inputs (h0/c0 only for cases with an initial state)
    input.lengths                  float32   per-sequence lengths (variable-length cases only)
    ref.{y,h_n,c_n}                float64   forward results
    ref.grad.{x,h0,c0}             float64   input gradients (h0/c0 only with an initial state)
    ref.grad.<param name>          float64   parameter gradients
    metadata["case"]               JSON      the case: mode, sizes, options
Also writes `state_dict_gru.safetensors` (a bare state_dict as `save_file(m.state_dict())` gives it)
and `state_dict_gru.io.safetensors` (its input and float64 output) for the loading test.
"""
import copy
import json
import os

import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "lstm", "tests", "fixtures", "rnn")

# name, mode, F, H, layers, bidir, proj, bias, B, T, init, lengths
CASES = [
    ("lstm_tiny", "LSTM", 1, 1, 1, False, 0, True, 1, 1, False, None),
    ("lstm_basic_init", "LSTM", 7, 13, 1, False, 0, True, 3, 20, True, None),
    ("lstm_2l_bidir_init", "LSTM", 7, 13, 2, True, 0, True, 4, 17, True, None),
    ("lstm_3l", "LSTM", 13, 7, 3, False, 0, True, 2, 11, False, None),
    ("lstm_3l_bidir", "LSTM", 7, 7, 3, True, 0, True, 2, 6, True, None),
    ("lstm_proj_2l_init", "LSTM", 7, 13, 2, False, 5, True, 3, 9, True, None),
    ("lstm_proj_bidir_init", "LSTM", 7, 13, 2, True, 5, True, 2, 8, True, None),
    ("lstm_packed_bidir_init", "LSTM", 7, 13, 2, True, 0, True, 5, 12, True, [12, 3, 7, 1, 12]),
    ("lstm_packed_proj", "LSTM", 7, 13, 1, True, 4, True, 3, 10, False, [4, 10, 1]),
    ("lstm_nobias_2l", "LSTM", 7, 13, 2, False, 0, False, 2, 10, True, None),
    ("lstm_odd_33", "LSTM", 33, 33, 1, False, 0, True, 5, 50, True, None),
    ("lstm_long_300", "LSTM", 7, 13, 1, False, 0, True, 2, 300, True, None),
    ("gru_tiny", "GRU", 1, 1, 1, False, 0, True, 1, 1, False, None),
    ("gru_basic_init", "GRU", 7, 13, 1, False, 0, True, 3, 20, True, None),
    ("gru_2l_bidir_init", "GRU", 13, 7, 2, True, 0, True, 4, 15, True, None),
    ("gru_3l", "GRU", 7, 13, 3, False, 0, True, 2, 9, False, None),
    ("gru_packed_bidir", "GRU", 7, 13, 2, True, 0, True, 5, 11, True, [11, 2, 6, 1, 9]),
    ("gru_nobias_bidir", "GRU", 7, 13, 1, True, 0, False, 2, 10, True, None),
    ("gru_odd_33", "GRU", 33, 33, 1, False, 0, True, 5, 40, False, None),
    ("gru_long_300", "GRU", 7, 13, 1, False, 0, True, 2, 300, True, None),
    ("rnn_tanh_tiny", "RNN_TANH", 1, 1, 1, False, 0, True, 1, 1, False, None),
    ("rnn_tanh_basic_init", "RNN_TANH", 7, 13, 1, False, 0, True, 3, 25, True, None),
    ("rnn_tanh_2l_bidir_packed", "RNN_TANH", 7, 13, 2, True, 0, True, 4, 14, True, [14, 5, 1, 9]),
    ("rnn_relu_3l_bidir", "RNN_RELU", 7, 13, 3, True, 0, True, 2, 10, True, None),
    ("rnn_relu_nobias", "RNN_RELU", 13, 7, 2, False, 0, False, 3, 12, False, None),
    ("rnn_tanh_long_300", "RNN_TANH", 7, 13, 1, False, 0, True, 2, 300, True, None),
]


def build(mode, F, H, L, bidir, proj, bias):
    kw = dict(input_size=F, hidden_size=H, num_layers=L, bidirectional=bidir, bias=bias)
    if mode == "LSTM":
        return torch.nn.LSTM(proj_size=proj, **kw)
    if mode == "GRU":
        return torch.nn.GRU(**kw)
    return torch.nn.RNN(nonlinearity="tanh" if mode == "RNN_TANH" else "relu", **kw)


def run(m, x, hx, lengths, T):
    if lengths is not None:
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
        out, state = m(packed, hx)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)
    else:
        y, state = m(x, hx)
    return y, state


def make_case(seed, name, mode, F, H, L, bidir, proj, bias, B, T, init, lengths):
    torch.manual_seed(seed)
    m32 = build(mode, F, H, L, bidir, proj, bias)
    D = 2 if bidir else 1
    H_out = proj if proj > 0 else H
    is_lstm = mode == "LSTM"
    x = torch.randn(T, B, F)
    h0 = torch.randn(L * D, B, H_out) * 0.5
    c0 = torch.randn(L * D, B, H) * 0.5
    d_y = torch.randn(T, B, D * H_out)
    d_hn = torch.randn(L * D, B, H_out)
    d_cn = torch.randn(L * D, B, H)

    m64 = copy.deepcopy(m32).double()
    x64 = x.double().requires_grad_()
    h064 = h0.double().requires_grad_()
    c064 = c0.double().requires_grad_()
    hx = None
    if init:
        hx = (h064, c064) if is_lstm else h064
    y, state = run(m64, x64, hx, lengths, T)
    h_n, c_n = state if is_lstm else (state, None)
    loss = (y * d_y.double()).sum() + (h_n * d_hn.double()).sum()
    if is_lstm:
        loss = loss + (c_n * d_cn.double()).sum()
    loss.backward()

    t = {}
    for k, v in m32.state_dict().items():
        t["lstm." + k] = v.detach().clone().contiguous()
    t["input.x"] = x
    t["input.d_y"] = d_y
    t["input.d_hn"] = d_hn
    if is_lstm:
        t["input.d_cn"] = d_cn
    if init:
        t["input.h0"] = h0
        t["ref.grad.h0"] = h064.grad
        if is_lstm:
            t["input.c0"] = c0
            t["ref.grad.c0"] = c064.grad
    if lengths is not None:
        t["input.lengths"] = torch.tensor(lengths, dtype=torch.float32)
    t["ref.y"] = y.detach()
    t["ref.h_n"] = h_n.detach()
    if is_lstm:
        t["ref.c_n"] = c_n.detach()
    t["ref.grad.x"] = x64.grad
    for k, p in m64.named_parameters():
        t["ref.grad." + k] = p.grad
    case = dict(name=name, mode=mode, input_size=F, hidden_size=H, num_layers=L, bidirectional=bidir,
                proj_size=proj, bias=bias, batch=B, seq_len=T, init=init, lengths=lengths, seed=seed,
                torch=torch.__version__)
    t = {k: v.contiguous() for k, v in t.items()}
    save_file(t, os.path.join(OUT, name + ".safetensors"),
              metadata={"case": json.dumps(case), "generator": "tools/gen_rnn_fixtures.py"})


def make_state_dict_case():
    torch.manual_seed(1234)
    m = torch.nn.GRU(input_size=5, hidden_size=6, num_layers=2, bidirectional=True)
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, os.path.join(OUT, "state_dict_gru.safetensors"))
    x = torch.randn(9, 2, 5)
    with torch.no_grad():
        y, h_n = copy.deepcopy(m).double()(x.double())
    save_file({"x": x, "y": y, "h_n": h_n}, os.path.join(OUT, "state_dict_gru.io.safetensors"),
              metadata={"generator": "tools/gen_rnn_fixtures.py"})


def main():
    os.makedirs(OUT, exist_ok=True)
    for seed, case in enumerate(CASES):
        make_case(seed, *case)
        print("wrote", case[0])
    make_state_dict_case()
    print("wrote state_dict_gru")


if __name__ == "__main__":
    main()
