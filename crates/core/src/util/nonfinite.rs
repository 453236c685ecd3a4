//! Figures that may be NaN or infinite (a parity error over NaN outputs, an
//! error with no common shape) as JSON: a number when finite, else the text
//! `"NaN"`, `"inf"` or `"-inf"`. JSON has no such numbers, and serde_json
//! would write `null`, which no reader could tell from a missing figure.
//! Files written before this record read `null` as NaN.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Figure {
    Number(f64),
    Text(String),
}

fn to_figure(x: f64) -> Figure {
    if x.is_finite() {
        Figure::Number(x)
    } else if x.is_nan() {
        Figure::Text("NaN".into())
    } else if x > 0.0 {
        Figure::Text("inf".into())
    } else {
        Figure::Text("-inf".into())
    }
}

fn from_figure<E: serde::de::Error>(f: Option<Figure>) -> Result<f64, E> {
    match f {
        None => Ok(f64::NAN),
        Some(Figure::Number(x)) => Ok(x),
        Some(Figure::Text(t)) => match t.as_str() {
            "NaN" => Ok(f64::NAN),
            "inf" => Ok(f64::INFINITY),
            "-inf" => Ok(f64::NEG_INFINITY),
            other => Err(E::custom(format!(
                "expected a number, \"NaN\", \"inf\" or \"-inf\", got {other:?}"
            ))),
        },
    }
}

/// `#[serde(with = "crate::util::nonfinite::f64")]`
pub mod f64 {
    use super::*;

    pub fn serialize<S: Serializer>(x: &::core::primitive::f64, s: S) -> Result<S::Ok, S::Error> {
        to_figure(*x).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<::core::primitive::f64, D::Error> {
        from_figure(Option::<Figure>::deserialize(d)?)
    }
}

/// `#[serde(with = "crate::util::nonfinite::option_f64", default)]`: `None` stays
/// absent-or-null only when written as such by [`option_f64::serialize`].
pub mod option_f64 {
    use super::*;

    pub fn serialize<S: Serializer>(
        x: &Option<::core::primitive::f64>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        x.map(to_figure).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<::core::primitive::f64>, D::Error> {
        match Option::<Figure>::deserialize(d)? {
            None => Ok(None),
            f => from_figure(f).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Record {
        #[serde(with = "super::f64")]
        error: f64,
        #[serde(with = "super::option_f64", default)]
        maybe: Option<f64>,
    }

    #[test]
    fn non_finite_figures_survive_a_round_trip() {
        for (x, text) in [
            (f64::NAN, "\"NaN\""),
            (f64::INFINITY, "\"inf\""),
            (f64::NEG_INFINITY, "\"-inf\""),
            (0.25, "0.25"),
        ] {
            let r = Record {
                error: x,
                maybe: Some(x),
            };
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("{{\"error\":{text},\"maybe\":{text}}}"));
            let back: Record = serde_json::from_str(&json).unwrap();
            assert_eq!(back.error.to_bits(), x.to_bits());
            assert_eq!(back.maybe.unwrap().to_bits(), x.to_bits());
        }
        // What older files wrote for NaN: null.
        let old: Record = serde_json::from_str("{\"error\":null,\"maybe\":null}").unwrap();
        assert!(old.error.is_nan());
        assert_eq!(old.maybe, None);
        let bad = serde_json::from_str::<Record>("{\"error\":\"lots\"}").unwrap_err();
        assert!(bad.to_string().contains("\"lots\""), "{bad}");
    }
}
