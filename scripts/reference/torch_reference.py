"""PyTorch eager references for `ditbench reference-check`, driven over a pipe.

Builds Hugging Face transformers' LlamaForCausalLM or diffusers'
WanTransformer3DModel from ditbench's weights file (reference names; Wan's are
mapped to diffusers' and every parameter must be consumed), then answers one
line per request on stdin:

  step         -> seconds of one iteration, measured here (device synchronized)
  output PATH  -> writes the pass's outputs as ditbench's outputs file; "ok"
  quit         -> exits

It says "ready <attention implementation>" once the model is built, and
"error <message>" before exiting on any failure.
"""

import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F

DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}


def wan_to_diffusers(name):
    """ditbench's (Wan2.1's WanModel) parameter name -> diffusers' WanTransformer3DModel's."""
    fixed = {
        "text_embedding.0": "condition_embedder.text_embedder.linear_1",
        "text_embedding.2": "condition_embedder.text_embedder.linear_2",
        "time_embedding.0": "condition_embedder.time_embedder.linear_1",
        "time_embedding.2": "condition_embedder.time_embedder.linear_2",
        "time_projection.1": "condition_embedder.time_proj",
        "head.head": "proj_out",
    }
    if name == "head.modulation":
        return "scale_shift_table"
    module, _, leaf = name.rpartition(".")
    if module in fixed:
        return f"{fixed[module]}.{leaf}"
    if not name.startswith("blocks."):
        return name  # patch_embedding.weight / .bias
    _, index, rest = name.split(".", 2)
    block = {
        "modulation": "scale_shift_table",
        "norm3.weight": "norm2.weight",
        "norm3.bias": "norm2.bias",
        "ffn.0.weight": "ffn.net.0.proj.weight",
        "ffn.0.bias": "ffn.net.0.proj.bias",
        "ffn.2.weight": "ffn.net.2.weight",
        "ffn.2.bias": "ffn.net.2.bias",
    }
    if rest in block:
        return f"blocks.{index}.{block[rest]}"
    attn, proj, leaf = rest.split(".")
    attn = {"self_attn": "attn1", "cross_attn": "attn2"}[attn]
    proj = {"q": "to_q", "k": "to_k", "v": "to_v", "o": "to_out.0"}.get(proj, proj)
    return f"blocks.{index}.{attn}.{proj}.{leaf}"


def load_exactly(model, state, names):
    """Load `state` (diffusers/transformers names) into `model`, every tensor used
    and every parameter given, except ones tied to a given one."""
    result = model.load_state_dict(state, strict=False)
    tied = {"lm_head.weight"} if getattr(model.config, "tie_word_embeddings", False) else set()
    missing = [k for k in result.missing_keys if k not in tied]
    if missing or result.unexpected_keys:
        raise RuntimeError(
            f"weights do not map onto the model: missing {missing[:5]}, unused {result.unexpected_keys[:5]}"
        )
    assert len(state) == len(names)


def build_llama(cfg, impl, dtype, device):
    from transformers import LlamaConfig, LlamaForCausalLM

    rope = {"rope_type": "default", "rope_theta": cfg["rope_theta"]}
    if cfg.get("rope_scaling"):
        s = cfg["rope_scaling"]
        rope = {
            "rope_type": "llama3",
            "rope_theta": cfg["rope_theta"],
            "factor": s["factor"],
            "low_freq_factor": s["low_freq_factor"],
            "high_freq_factor": s["high_freq_factor"],
            "original_max_position_embeddings": s["original_max_position_embeddings"],
        }
    config = LlamaConfig(
        vocab_size=cfg["vocab_size"],
        hidden_size=cfg["hidden_size"],
        intermediate_size=cfg["intermediate_size"],
        num_hidden_layers=cfg["num_hidden_layers"],
        num_attention_heads=cfg["num_attention_heads"],
        num_key_value_heads=cfg["num_key_value_heads"],
        rms_norm_eps=cfg["rms_norm_eps"],
        rope_parameters=rope,
        tie_word_embeddings=cfg["tie_word_embeddings"],
        max_position_embeddings=max(cfg["max_position_embeddings"], cfg["seq_len"]),
        attn_implementation={"hf-eager": "eager", "hf-sdpa": "sdpa"}[impl],
    )
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    model = model.to_empty(device=device).to(dtype)
    # Buffers (RoPE inverse frequencies) were on the meta device: rebuild them.
    with torch.device(device):
        model.model.rotary_emb = type(model.model.rotary_emb)(config)
    return model


def build_wan(cfg, dtype, device):
    from diffusers import WanTransformer3DModel

    with torch.device("meta"):
        model = WanTransformer3DModel(
            patch_size=tuple(cfg["patch_size"]),
            num_attention_heads=cfg["num_heads"],
            attention_head_dim=cfg["dim"] // cfg["num_heads"],
            in_channels=cfg["in_dim"],
            out_channels=cfg["out_dim"],
            text_dim=cfg["text_dim"],
            freq_dim=cfg["freq_dim"],
            ffn_dim=cfg["ffn_dim"],
            num_layers=cfg["num_layers"],
            cross_attn_norm=True,
            qk_norm="rms_norm_across_heads",
            eps=cfg["eps"],
        )
    model = model.to_empty(device=device)
    # diffusers keeps some modules in f32 in half-precision runs
    # (`_keep_in_fp32_modules`); nn.Module.to, as from_pretrained casts.
    torch.nn.Module.to(model, dtype)
    keep = tuple(getattr(model, "_keep_in_fp32_modules", None) or ())
    for name, module in model.named_modules():
        if name and name.split(".")[-1] in keep:
            module.float()
    for name, param in model.named_parameters():
        if name.split(".")[-1] in keep:
            param.data = param.data.float()
    rope = model.rope
    with torch.device(device):
        model.rope = type(rope)(rope.attention_head_dim, rope.patch_size, rope.max_seq_len)
    return model


class Reference:
    def __init__(self, args):
        from safetensors import safe_open
        from safetensors.torch import load_file

        weights = safe_open(args.weights, "pt")
        config = json.loads(weights.metadata()["config"])
        self.family = config["family"]
        self.pass_ = args.pass_
        self.device = torch.device(args.device)
        dtype = DTYPES[args.dtype]
        ours = load_file(args.weights, device=str(self.device))
        inputs = load_file(args.inputs, device=str(self.device))
        if self.family == "llama":
            if args.impl not in ("hf-eager", "hf-sdpa"):
                raise ValueError(f"{args.impl} is not a Llama reference")
            self.model = build_llama(config, args.impl, dtype, self.device)
            self.names = {name: name for name in ours}
            self.attention = (
                f"transformers LlamaForCausalLM, attn_implementation="
                f"{self.model.config._attn_implementation}"
            )
            self.tokens = inputs["tokens"].long()
            self.targets = inputs["targets"].long()
        else:
            if args.impl != "diffusers":
                raise ValueError(f"{args.impl} is not a Wan reference")
            self.model = build_wan(config, dtype, self.device)
            self.names = {name: wan_to_diffusers(name) for name in ours}
            self.attention = "diffusers WanAttnProcessor: torch.nn.functional.scaled_dot_product_attention"
            self.latents = inputs["latents"].to(dtype)
            self.timesteps = inputs["timesteps"]
            self.context = inputs["context"].to(dtype)
            self.target = inputs["target"].float()
        state = {self.names[k]: v.to(dtype) for k, v in ours.items()}
        load_exactly(self.model, state, ours)
        train = self.pass_ == "train"
        self.model.train(train)
        self.model.requires_grad_(train)
        if self.pass_ == "decode":
            s = self.tokens.shape[1]
            with torch.no_grad():
                self.cache = self.model(self.tokens[:, : s - 1], use_cache=True).cache
            self.prompt = s - 1

    def forward(self):
        if self.family == "llama":
            if self.pass_ == "decode":
                out = self.model(self.tokens[:, self.prompt :], cache=self.cache, use_cache=True)
                return out.logits
            return self.model(self.tokens, use_cache=False).logits
        return self.model(self.latents, self.timesteps, self.context, return_dict=False)[0]

    def loss(self, out):
        if self.family == "llama":
            vocab = out.shape[-1]
            return F.cross_entropy(out.float().reshape(-1, vocab), self.targets.reshape(-1))
        return F.mse_loss(out.float(), self.target)

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def run(self):
        """One iteration; returns (output, loss) and leaves gradients behind."""
        if self.pass_ == "train":
            out = self.forward()
            loss = self.loss(out)
            loss.backward()
            return out, loss
        with torch.no_grad():
            out = self.forward()
        if self.pass_ == "decode":
            # Every step decodes the same position: drop the step's keys.
            self.cache.crop(-1)
            assert self.cache.get_seq_length() == self.prompt
        return out, None

    def clear(self):
        for p in self.model.parameters():
            p.grad = None

    def step(self):
        self.sync()
        start = time.perf_counter()
        self.run()
        self.sync()
        seconds = time.perf_counter() - start
        self.clear()
        return seconds

    def output(self, path):
        from safetensors.torch import save_file

        out, loss = self.run()
        tensors = {"output": out.detach().float().contiguous().cpu()}
        if loss is not None:
            params = dict(self.model.named_parameters())
            norms = {}
            for ours, theirs in self.names.items():
                grad = params[theirs].grad
                norms[ours] = 0.0 if grad is None else grad.double().norm().item()
            total = sum(n * n for n in norms.values()) ** 0.5
            tensors["loss"] = torch.tensor([loss.item()], dtype=torch.float32)
            tensors["grad_norm"] = torch.tensor([total], dtype=torch.float32)
            for name, norm in norms.items():
                tensors[f"grad_norm.{name}"] = torch.tensor([norm], dtype=torch.float32)
        self.clear()
        save_file(tensors, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--impl", required=True, choices=["hf-eager", "hf-sdpa", "diffusers"])
    parser.add_argument("--pass", dest="pass_", required=True, choices=["forward", "train", "decode"])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="f32", choices=sorted(DTYPES))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    try:
        ref = Reference(args)
        print(f"ready {ref.attention}", flush=True)
        for line in sys.stdin:
            request = line.strip()
            if request == "step":
                print(repr(ref.step()), flush=True)
            elif request.startswith("output "):
                ref.output(request[len("output ") :])
                print("ok", flush=True)
            elif request == "quit":
                return
            else:
                raise ValueError(f"unknown request {request!r}")
    except Exception as e:  # one line for the parent, the trace for the person
        print(f"error {type(e).__name__}: {e}".replace("\n", " "), flush=True)
        raise


if __name__ == "__main__":
    main()
