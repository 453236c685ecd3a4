//! The parity check: every backend must compute the same function on the
//! same weights and inputs as the reference backend.

use serde::{Deserialize, Serialize};

use crate::compute::backend::PassOutput;
use crate::io::files::global_grad_norm;
use crate::model::case::Dtype;

/// The definition of `parity`, naming the backends that can be the
/// reference in their order of preference (the backend registry's).
pub fn definition<S: AsRef<str>>(reference_order: &[S]) -> String {
    let order: Vec<&str> = reference_order.iter().map(AsRef::as_ref).collect();
    format!(
        "comparison with the reference backend (first available of {}) on the same workload, weights, inputs, device, dtype and pass",
        order.join(", ")
    )
}

/// Definitions of the parity record's fields (`parity` itself is
/// [`definition`]).
pub const DEFINITIONS: &[(&str, &str)] = &[
    (
        "parity.output_max_abs_error",
        "max |output - reference output| over all elements",
    ),
    (
        "parity.output_rel_error",
        "norm-wise relative error ||output - reference||_2 / ||reference||_2",
    ),
    (
        "parity.loss_rel_diff",
        "train: |loss - reference loss| / |reference loss|",
    ),
    (
        "parity.grad_norm_rel_diff",
        "train: |global gradient norm - reference| / reference",
    ),
    (
        "parity.tolerance",
        "largest relative error that passes for this dtype (f32 1e-4, f16 1e-2, bf16 5e-2)",
    ),
];

/// Relative tolerance for a dtype: f32 must agree to 1e-4; half-precision
/// types within what their mantissas allow across differently ordered sums.
pub fn tolerance(dtype: Dtype) -> f64 {
    match dtype {
        Dtype::F32 => 1e-4,
        Dtype::F16 => 1e-2,
        Dtype::Bf16 => 5e-2,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParityStatus {
    /// This case is the reference.
    Reference,
    Pass,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parity {
    pub reference: String,
    pub status: ParityStatus,
    // Non-finite errors (NaN outputs, no common shape) are written as text.
    #[serde(with = "crate::util::nonfinite::f64")]
    pub output_max_abs_error: f64,
    #[serde(with = "crate::util::nonfinite::f64")]
    pub output_rel_error: f64,
    #[serde(with = "crate::util::nonfinite::option_f64", default)]
    pub loss_rel_diff: Option<f64>,
    #[serde(with = "crate::util::nonfinite::option_f64", default)]
    pub grad_norm_rel_diff: Option<f64>,
    pub tolerance: f64,
    /// What failed, in words.
    pub detail: Option<String>,
}

/// Whether an error is within tolerance; NaN never is.
fn within(error: f64, tol: f64) -> bool {
    error <= tol
}

fn rel_diff(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / b.abs().max(f64::MIN_POSITIVE)
    }
}

/// Compare `out` with the reference's outputs.
pub fn compare(
    reference_backend: &str,
    reference: &PassOutput,
    out: &PassOutput,
    dtype: Dtype,
) -> Parity {
    compare_within(reference_backend, reference, out, tolerance(dtype))
}

/// [`compare`] with tolerance `tol` instead of the dtype's.
pub fn compare_within(
    reference_backend: &str,
    reference: &PassOutput,
    out: &PassOutput,
    tol: f64,
) -> Parity {
    let mut failures = Vec::new();
    let (a, b) = match (out.output.as_f32(), reference.output.as_f32()) {
        (Ok(a), Ok(b)) if out.output.shape == reference.output.shape => (a, b),
        _ => {
            return Parity {
                reference: reference_backend.to_string(),
                status: ParityStatus::Fail,
                output_max_abs_error: f64::INFINITY,
                output_rel_error: f64::INFINITY,
                loss_rel_diff: None,
                grad_norm_rel_diff: None,
                tolerance: tol,
                detail: Some(format!(
                    "output shape {:?} differs from the reference's {:?}",
                    out.output.shape, reference.output.shape
                )),
            };
        }
    };
    let mut max_abs = 0f64;
    let (mut diff2, mut ref2) = (0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let d = f64::from(x) - f64::from(y);
        // A NaN anywhere is a failure, never a silent pass.
        max_abs = if d.is_nan() {
            f64::NAN
        } else {
            max_abs.max(d.abs())
        };
        diff2 += d * d;
        ref2 += f64::from(y) * f64::from(y);
    }
    let rel = if diff2 == 0.0 {
        0.0
    } else {
        (diff2 / ref2.max(f64::MIN_POSITIVE)).sqrt()
    };
    if !within(rel, tol) {
        failures.push(format!("output relative error {rel:.3e} > {tol:.0e}"));
    }
    let loss_rel = match (out.loss, reference.loss) {
        (Some(l), Some(r)) => Some(rel_diff(l, r)),
        _ => None,
    };
    if let Some(d) = loss_rel.filter(|&d| !within(d, tol)) {
        failures.push(format!("loss differs by {d:.3e} relative"));
    }
    let grad_rel = match (global_grad_norm(out), global_grad_norm(reference)) {
        (Some(g), Some(r)) => Some(rel_diff(g, r)),
        _ => None,
    };
    if let Some(d) = grad_rel.filter(|&d| !within(d, tol)) {
        failures.push(format!("gradient norm differs by {d:.3e} relative"));
    }
    if out.loss.is_some() != reference.loss.is_some() {
        failures.push("only one side computed a loss".into());
    }
    Parity {
        reference: reference_backend.to_string(),
        status: if failures.is_empty() {
            ParityStatus::Pass
        } else {
            ParityStatus::Fail
        },
        output_max_abs_error: max_abs,
        output_rel_error: rel,
        loss_rel_diff: loss_rel,
        grad_norm_rel_diff: grad_rel,
        tolerance: tol,
        detail: (!failures.is_empty()).then(|| failures.join("; ")),
    }
}

/// The record of the first backend of a parity group, whose outputs `out`
/// the others are compared with: `Reference`, or `Fail` where a value is
/// NaN or infinite (nothing can be checked against it, and the group's
/// next backend becomes the reference instead).
pub fn reference_record(backend: &str, dtype: Dtype, out: &PassOutput) -> Parity {
    let values = out.output.as_f32().unwrap_or_default();
    let bad = values.iter().filter(|v| !v.is_finite()).count();
    let scalars = out.loss.iter().chain(out.grad_norms.iter().map(|(_, g)| g));
    let bad_scalars = scalars.filter(|v| !v.is_finite()).count();
    let unfit = (bad > 0 || bad_scalars > 0).then(|| {
        format!(
            "{bad} of {} output values and {bad_scalars} of its loss and gradient norms are NaN or infinite: not a parity reference (the next backend is)",
            values.len()
        )
    });
    Parity {
        reference: backend.to_string(),
        status: match unfit {
            Some(_) => ParityStatus::Fail,
            None => ParityStatus::Reference,
        },
        output_max_abs_error: 0.0,
        output_rel_error: 0.0,
        loss_rel_diff: None,
        grad_norm_rel_diff: None,
        tolerance: tolerance(dtype),
        detail: unfit,
    }
}

/// The backend among `backends` that is preferred as the reference, by
/// `order` (the backends that can be the reference, most preferred first:
/// the backend registry's).
pub fn preferred_reference<'a, 'o, S: AsRef<str>>(
    order: &'o [S],
    backends: impl Iterator<Item = &'a str> + Clone,
) -> Option<&'o str> {
    order
        .iter()
        .map(AsRef::as_ref)
        .find(|r| backends.clone().any(|b| b == *r))
}

/// Order backends so that the preferred parity reference runs first.
pub fn reference_first<S: AsRef<str>>(order: &[S], backends: &mut [String]) {
    let rank = |b: &String| {
        order
            .iter()
            .position(|r| r.as_ref() == b)
            .unwrap_or(order.len())
    };
    backends.sort_by_key(rank);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::tensors::HostTensor;

    fn out(values: Vec<f32>, loss: Option<f64>, grads: &[f64]) -> PassOutput {
        PassOutput {
            output: HostTensor::f32(vec![values.len()], values),
            loss,
            grad_norms: grads
                .iter()
                .enumerate()
                .map(|(i, &g)| (format!("p{i}"), g))
                .collect(),
        }
    }

    #[test]
    fn identical_outputs_pass_and_small_noise_passes_in_f32() {
        let r = out(vec![1.0, -2.0, 3.0], Some(2.0), &[3.0, 4.0]);
        let p = compare("candle", &r, &r, Dtype::F32);
        assert_eq!(p.status, ParityStatus::Pass);
        assert_eq!((p.output_rel_error, p.output_max_abs_error), (0.0, 0.0));
        assert_eq!(p.grad_norm_rel_diff, Some(0.0));
        let close = out(vec![1.00001, -2.0, 3.0], Some(2.00001), &[3.0, 4.0001]);
        assert_eq!(
            compare("candle", &r, &close, Dtype::F32).status,
            ParityStatus::Pass
        );
    }

    #[test]
    fn outputs_with_a_nan_or_infinity_are_no_reference() {
        let fine = out(vec![1.0, -2.0], Some(2.0), &[3.0]);
        let p = reference_record("tch", Dtype::F32, &fine);
        assert_eq!((p.status, p.detail), (ParityStatus::Reference, None));
        for unfit in [
            out(vec![f32::NAN, f32::NAN], None, &[]),
            out(vec![1.0, f32::INFINITY], None, &[]),
            out(vec![1.0, 2.0], Some(f64::NAN), &[3.0]),
            out(vec![1.0, 2.0], Some(2.0), &[f64::INFINITY]),
        ] {
            let p = reference_record("tch", Dtype::F32, &unfit);
            assert_eq!(p.status, ParityStatus::Fail);
            assert!(p.detail.unwrap().contains("not a parity reference"));
        }
    }

    #[test]
    fn real_differences_fail_with_a_reason() {
        let r = out(vec![1.0, -2.0, 3.0], Some(2.0), &[3.0, 4.0]);
        let off = out(vec![1.1, -2.0, 3.0], Some(2.0), &[3.0, 4.0]);
        let p = compare("candle", &r, &off, Dtype::F32);
        assert_eq!(p.status, ParityStatus::Fail);
        assert!((p.output_max_abs_error - 0.1).abs() < 1e-6);
        assert!(p.detail.unwrap().contains("output relative error"));
        // The same difference passes in bf16's looser tolerance.
        assert_eq!(
            compare("candle", &r, &off, Dtype::Bf16).status,
            ParityStatus::Pass
        );
        let grads = out(vec![1.0, -2.0, 3.0], Some(2.0), &[3.0, 5.0]);
        assert!(
            compare("candle", &r, &grads, Dtype::F32)
                .detail
                .unwrap()
                .contains("gradient norm")
        );
        let loss = out(vec![1.0, -2.0, 3.0], Some(2.5), &[3.0, 4.0]);
        assert!(
            compare("candle", &r, &loss, Dtype::F32)
                .detail
                .unwrap()
                .contains("loss")
        );
        let nan = out(vec![f32::NAN, -2.0, 3.0], Some(2.0), &[3.0, 4.0]);
        assert_eq!(
            compare("candle", &r, &nan, Dtype::F32).status,
            ParityStatus::Fail
        );
        let shape = out(vec![1.0, -2.0], Some(2.0), &[3.0, 4.0]);
        assert!(
            compare("candle", &r, &shape, Dtype::F32)
                .detail
                .unwrap()
                .contains("shape")
        );
    }

    #[test]
    fn the_preferred_reference_runs_first() {
        let mut b = vec![
            "burn-ndarray".to_string(),
            "burn-flex".into(),
            "candle".into(),
            "tch".into(),
        ];
        let order = ["tch", "candle", "burn-flex"];
        reference_first(&order, &mut b);
        assert_eq!(b, ["tch", "candle", "burn-flex", "burn-ndarray"]);
        let pick = |names: &[&str]| preferred_reference(&order, names.iter().copied());
        assert_eq!(pick(&["burn-flex", "candle"]), Some("candle"));
        assert_eq!(pick(&["burn-ndarray", "burn-flex"]), Some("burn-flex"));
        assert_eq!(pick(&["burn-ndarray"]), None);
    }
}
