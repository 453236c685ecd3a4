//! A Llama of `burn::nn` modules, as a Burn user composes one: Embedding,
//! RmsNorm, Linear, RotaryEncoding (adjacent pairs, so q and k rows are
//! permuted from Hugging Face's half-split order), SwiGlu and Burn's
//! attention op; the prompt's keys and values grown with `Tensor::cat` in
//! a decode step.

use anyhow::Result;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Embedding, Linear, RmsNorm, RotaryEncoding, SwiGlu};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{DType, Int, Tensor, TensorData};
use ditbench_core::compute::pass_inputs::Targets;
use ditbench_core::model::tables::llama_rope;
use ditbench_core::model::workload::LlamaConfig;

use super::NnModel;
use super::load::{Leaf, Loader};
use crate::Output;

struct Layer {
    input_norm: RmsNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    post_norm: RmsNorm,
    /// gate_proj (inner) and up_proj (outer).
    mlp: SwiGlu,
    down: Linear,
}

/// What one step computes.
enum Work {
    /// Every position's logits over the tokens [B, S], with the targets
    /// [B*S] for a training step (boxed: Burn tensors are large handles).
    Prefill(Box<(Tensor<2, Int>, Tensor<1, Int>)>),
    /// The context's last token [B, 1] over each layer's prompt keys and values.
    Decode(Box<(Tensor<2, Int>, Vec<KeysValues>)>),
}

/// One layer's keys and values [B, KV, S, D] each.
type KeysValues = (Tensor<4>, Tensor<4>);

pub(crate) struct NnLlama {
    cfg: LlamaConfig,
    embed: Embedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    /// `None`: tied to the embedding.
    lm_head: Option<Linear>,
    rope: RotaryEncoding,
    work: Work,
    params: Vec<(String, Leaf)>,
}

/// Rows of a [heads*d, in] projection in Burn's pair order: new row
/// h*d + 2j is old h*d + j, new h*d + 2j+1 is old h*d + j + d/2.
fn interleaved_rows(heads: usize, d: usize) -> Vec<usize> {
    (0..heads * d)
        .map(|i| {
            let (h, r) = (i / d, i % d);
            h * d + r / 2 + (r % 2) * (d / 2)
        })
        .collect()
}

fn ids(values: &[u32], shape: [usize; 2], loader: &Loader) -> Tensor<2, Int> {
    let v: Vec<i64> = values.iter().map(|&t| i64::from(t)).collect();
    Tensor::from_data(TensorData::new(v, shape), &loader.device)
}

impl NnLlama {
    fn build(loader: &Loader, c: &LlamaConfig, work: Work) -> Result<Self> {
        let eps = c.rms_norm_eps;
        let d = c.head_dim();
        let q_rows = interleaved_rows(c.num_attention_heads, d);
        let k_rows = interleaved_rows(c.num_key_value_heads, d);
        let layers = (0..c.num_hidden_layers)
            .map(|i| {
                let p = format!("model.layers.{i}");
                Ok(Layer {
                    input_norm: loader.rms_norm(&format!("{p}.input_layernorm.weight"), eps)?,
                    q: loader.linear(&format!("{p}.self_attn.q_proj"), false, Some(&q_rows))?,
                    k: loader.linear(&format!("{p}.self_attn.k_proj"), false, Some(&k_rows))?,
                    v: loader.linear(&format!("{p}.self_attn.v_proj"), false, None)?,
                    o: loader.linear(&format!("{p}.self_attn.o_proj"), false, None)?,
                    post_norm: loader
                        .rms_norm(&format!("{p}.post_attention_layernorm.weight"), eps)?,
                    mlp: SwiGlu {
                        linear_inner: loader.linear(&format!("{p}.mlp.gate_proj"), false, None)?,
                        linear_outer: loader.linear(&format!("{p}.mlp.up_proj"), false, None)?,
                    },
                    down: loader.linear(&format!("{p}.mlp.down_proj"), false, None)?,
                })
            })
            .collect::<Result<_>>()?;
        let mut model = NnLlama {
            cfg: c.clone(),
            embed: Embedding {
                weight: loader.tensor("model.embed_tokens.weight")?,
            },
            layers,
            norm: loader.rms_norm("model.norm.weight", eps)?,
            lm_head: (!c.tie_word_embeddings)
                .then(|| loader.linear("lm_head", false, None))
                .transpose()?,
            rope: loader.rope(&llama_rope(c)),
            work,
            params: Vec::new(),
        };
        model.params = loader.loaded();
        Ok(model)
    }

    /// A prefill (forward) or training step over `tokens`.
    pub fn prefill(
        loader: &Loader,
        c: &LlamaConfig,
        tokens: &[u32],
        targets: Targets,
    ) -> Result<Self> {
        anyhow::ensure!(
            targets.weighted.is_none(),
            "the reference check trains on seeded targets, every position counted"
        );
        let shape = [c.batch, c.seq_len];
        let targets = Tensor::from_data(
            TensorData::new(
                targets.ids.iter().map(|&t| i64::from(t)).collect(),
                [c.batch * c.seq_len],
            ),
            &loader.device,
        );
        let work = Work::Prefill(Box::new((ids(tokens, shape, loader), targets)));
        Self::build(loader, c, work)
    }

    /// One decode step at the context's last position; the prompt's keys
    /// and values are computed here.
    pub fn decode(loader: &Loader, c: &LlamaConfig, tokens: &[u32]) -> Result<Self> {
        let s = c.seq_len;
        let prompt_ids: Vec<u32> = tokens.chunks(s).flat_map(|r| r[..s - 1].to_vec()).collect();
        let last: Vec<u32> = tokens.chunks(s).map(|r| r[s - 1]).collect();
        let mut model = Self::build(
            loader,
            c,
            Work::Decode(Box::new((ids(&last, [c.batch, 1], loader), Vec::new()))),
        )?;
        let mut prompt = Vec::with_capacity(c.num_hidden_layers);
        let mut x = model
            .embed
            .forward(ids(&prompt_ids, [c.batch, s - 1], loader));
        for layer in &model.layers {
            let (y, kv) = model.layer(layer, x, 0, None);
            prompt.push(kv);
            x = y;
        }
        model.work = Work::Decode(Box::new((ids(&last, [c.batch, 1], loader), prompt)));
        Ok(model)
    }

    fn heads(&self, x: Tensor<3>, n: usize) -> Tensor<4> {
        let [b, s, _] = x.dims();
        x.reshape([b, s, n, self.cfg.head_dim()]).swap_dims(1, 2)
    }

    /// One layer over `x` from position `start`; with `prompt`, attending over
    /// the prompt's keys and values and this token's, concatenated. Returns
    /// the output and this call's keys and values (after RoPE).
    fn layer(
        &self,
        l: &Layer,
        x: Tensor<3>,
        start: usize,
        prompt: Option<&(Tensor<4>, Tensor<4>)>,
    ) -> (Tensor<3>, (Tensor<4>, Tensor<4>)) {
        let c = &self.cfg;
        let [b, s, _] = x.dims();
        let h = l.input_norm.forward(x.clone());
        let q = self.rope.apply(
            self.heads(l.q.forward(h.clone()), c.num_attention_heads),
            start,
        );
        let k = self.rope.apply(
            self.heads(l.k.forward(h.clone()), c.num_key_value_heads),
            start,
        );
        let v = self.heads(l.v.forward(h), c.num_key_value_heads);
        let (keys, values) = match prompt {
            Some((pk, pv)) => (
                Tensor::cat(vec![pk.clone(), k.clone()], 2),
                Tensor::cat(vec![pv.clone(), v.clone()], 2),
            ),
            None => (k.clone(), v.clone()),
        };
        let rep = c.num_attention_heads / c.num_key_value_heads;
        let repeat = |t: Tensor<4>| {
            let [b, kv, s, d] = t.dims();
            if rep == 1 {
                t
            } else {
                t.unsqueeze_dim::<5>(2)
                    .expand([b, kv, rep, s, d])
                    .reshape([b, kv * rep, s, d])
            }
        };
        let options = AttentionModuleOptions {
            scale: None,
            softcap: None,
            is_causal: prompt.is_none(),
        };
        let y = attention(q, repeat(keys), repeat(values), None, None, options)
            .swap_dims(1, 2)
            .reshape([b, s, c.hidden_size]);
        let x = x + l.o.forward(y);
        let y = l
            .down
            .forward(l.mlp.forward(l.post_norm.forward(x.clone())));
        (x + y, (k, v))
    }

    fn logits(&self, x: Tensor<3>) -> Tensor<3> {
        let h = self.norm.forward(x);
        match &self.lm_head {
            Some(head) => head.forward(h),
            None => h.matmul(self.embed.weight.val().transpose().unsqueeze()),
        }
    }
}

impl NnModel for NnLlama {
    fn forward(&self) -> Output {
        let c = &self.cfg;
        Output::Rank3(match &self.work {
            Work::Prefill(inputs) => {
                let mut x = self.embed.forward(inputs.0.clone());
                for layer in &self.layers {
                    x = self.layer(layer, x, 0, None).0;
                }
                self.logits(x)
            }
            Work::Decode(inputs) => {
                let (token, prompt) = &**inputs;
                let mut x = self.embed.forward(token.clone());
                for (layer, kv) in self.layers.iter().zip(prompt) {
                    x = self.layer(layer, x, c.seq_len - 1, Some(kv)).0;
                }
                self.logits(x)
            }
        })
    }

    fn loss(&self, out: &Output) -> Tensor<1> {
        let (Output::Rank3(logits), Work::Prefill(inputs)) = (out, &self.work) else {
            panic!("a training step has logits and targets");
        };
        let targets = &inputs.1;
        let [b, s, v] = logits.dims();
        let logits = logits.clone().cast(DType::F32).reshape([b * s, v]);
        CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits, targets.clone())
    }

    fn params(&self) -> &[(String, Leaf)] {
        &self.params
    }

    fn attention(&self) -> String {
        "burn::tensor::module::attention (Burn's attention op)".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_pair_of_burns_order_comes_from_the_two_halves_of_a_head() {
        assert_eq!(interleaved_rows(1, 4), vec![0, 2, 1, 3]);
        assert_eq!(interleaved_rows(2, 4), vec![0, 2, 1, 3, 4, 6, 5, 7]);
    }
}
