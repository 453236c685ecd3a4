"""Check ditbench's text encoder and VAE decoder against the frameworks' own
model code: transformers' UMT5EncoderModel and diffusers' AutoencoderKLWan
(the decoder, decoded one latent frame at a time as WanVAE_.decode does),
on the weights, inputs and output files ditbench writes.

    ditbench data -p umt5-tiny -o /tmp/stages/umt5-tiny
    ditbench data -p wan-vae-tiny -o /tmp/stages/wan-vae-tiny
    ditbench run -p umt5-tiny,wan-vae-tiny --dump-outputs /tmp/stages/out -o /tmp/stages/runs
    python scripts/reference/check_video_stages.py t5 /tmp/stages/umt5-tiny/*weights* \
        /tmp/stages/umt5-tiny/*inputs* /tmp/stages/out/umt5-tiny_candle_cpu_f32_forward.safetensors
    python scripts/reference/check_video_stages.py vae /tmp/stages/wan-vae-tiny/*weights* \
        /tmp/stages/wan-vae-tiny/*inputs* /tmp/stages/out/wan-vae-tiny_tch_cpu_f32_forward.safetensors

Needs torch, transformers and diffusers (scripts/reference/requirements.txt).
Prints the relative L2 error of ours against theirs, and what PyTorch's FLOP
counter counts for their forward (SDPA on its math path, which it counts; ditbench
list --json gives ours), and exits 1 above 1e-5.
"""
import re, sys, torch
from safetensors.torch import load_file
def vae_name(n):
    n = re.sub(r'^conv2\.', 'post_quant_conv.', n)
    n = n.replace('decoder.conv1.', 'decoder.conv_in.')
    n = n.replace('decoder.head.0.', 'decoder.norm_out.').replace('decoder.head.2.', 'decoder.conv_out.')
    n = n.replace('decoder.middle.0.', 'decoder.mid_block.resnets.0.').replace('decoder.middle.2.', 'decoder.mid_block.resnets.1.').replace('decoder.middle.1.', 'decoder.mid_block.attentions.0.')
    m = re.match(r'decoder\.upsamples\.(\d+)\.(.*)', n)
    if m:
        k, rest = int(m.group(1)), m.group(2)
        stage, j = divmod(k, 4)
        n = f'decoder.up_blocks.{stage}.upsamplers.0.{rest}' if j == 3 else f'decoder.up_blocks.{stage}.resnets.{j}.{rest}'
    n = n.replace('residual.0.', 'norm1.').replace('residual.2.', 'conv1.').replace('residual.3.', 'norm2.').replace('residual.6.', 'conv2.').replace('shortcut.', 'conv_shortcut.')
    return n
def t5_name(n):
    n = n.replace('token_embedding.', 'shared.')
    n = n.replace('norm.weight', 'encoder.final_layer_norm.weight') if n == 'norm.weight' else n
    m = re.match(r'blocks\.(\d+)\.(.*)', n)
    if m:
        i, rest = m.group(1), m.group(2)
        rest = {'norm1.weight': 'layer.0.layer_norm.weight', 'attn.q.weight': 'layer.0.SelfAttention.q.weight','attn.k.weight': 'layer.0.SelfAttention.k.weight','attn.v.weight': 'layer.0.SelfAttention.v.weight','attn.o.weight': 'layer.0.SelfAttention.o.weight','pos_embedding.embedding.weight':'layer.0.SelfAttention.relative_attention_bias.weight','norm2.weight':'layer.1.layer_norm.weight','ffn.gate.0.weight':'layer.1.DenseReluDense.wi_0.weight','ffn.fc1.weight':'layer.1.DenseReluDense.wi_1.weight','ffn.fc2.weight':'layer.1.DenseReluDense.wo.weight'}[rest]
        n = f'encoder.block.{i}.{rest}'
    return n
kind, wpath, ipath, opath = sys.argv[1:5]
w = load_file(wpath); inp = load_file(ipath); ours = load_file(opath)['output']
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode
torch.manual_seed(0)
with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
    if kind == 'vae':
        from diffusers import AutoencoderKLWan
        z = inp['latents']
        dim = w['decoder.head.2.weight'].shape[1]
        m = AutoencoderKLWan(base_dim=dim, z_dim=z.shape[1]).eval()
        sd = {vae_name(k): v for k, v in w.items()}
        missing, unexpected = m.load_state_dict(sd, strict=False)
        assert not unexpected, unexpected
        assert all(k.startswith(('encoder', 'quant_conv')) for k in missing), [k for k in missing if not k.startswith('encoder')]
        x = m.post_quant_conv(z); m.clear_cache(); outs = []
        for i in range(z.shape[2]):
            m._conv_idx = [0]
            outs.append(m.decoder(x[:, :, i:i+1], feat_cache=m._feat_map, feat_idx=m._conv_idx, first_chunk=(i == 0)))
        theirs = torch.cat(outs, 2)
    else:
        from transformers import UMT5Config, UMT5EncoderModel
        ids = inp['tokens'].long()
        v, d = w['token_embedding.weight'].shape
        heads = w['blocks.0.pos_embedding.embedding.weight'].shape[1]
        layers = len([k for k in w if k.endswith('norm1.weight')])
        ffn = w['blocks.0.ffn.fc1.weight'].shape[0]
        cfg = UMT5Config(vocab_size=v, d_model=d, d_kv=d // heads, d_ff=ffn, num_layers=layers, num_heads=heads, feed_forward_proj='gated-gelu', dropout_rate=0.0, layer_norm_epsilon=1e-6, relative_attention_num_buckets=32, relative_attention_max_distance=128)
        m = UMT5EncoderModel(cfg).eval()
        sd = {t5_name(k): v for k, v in w.items()}
        sd['encoder.embed_tokens.weight'] = sd['shared.weight']
        missing, unexpected = m.load_state_dict(sd, strict=True), None
        theirs = m(input_ids=ids).last_hidden_state
print(kind, 'torch FLOP counter', counter.get_total_flops())
print(kind, 'shape', tuple(ours.shape), tuple(theirs.shape), 'max abs diff', (ours - theirs).abs().max().item(), 'max |theirs|', theirs.abs().max().item(), 'rel', ((ours - theirs).norm() / theirs.norm()).item())
if ((ours - theirs).norm() / theirs.norm()).item() > 1e-5:
    sys.exit(1)
