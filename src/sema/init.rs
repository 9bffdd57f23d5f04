//! Parameter initializers, as the checker attaches them to each parameter.
//! The runtime draws the values from the seeded counter-based generator, so
//! every backend starts from the same numbers.

/// How a parameter's first values are drawn. `fan_in`/`fan_out` are those of
/// the layer (for dense: input and output features).
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    Zeros,
    Ones,
    Constant(f64),
    /// U(-a, a), a = sqrt(6 / (fan_in + fan_out)) — Keras' default for dense.
    GlorotUniform,
    /// N(0, 2 / (fan_in + fan_out))
    GlorotNormal,
    /// U(-a, a), a = sqrt(6 / fan_in)
    HeUniform,
    /// N(0, 2 / fan_in)
    HeNormal,
    /// N(0, 1 / fan_in)
    LecunNormal,
    Uniform {
        low: f64,
        high: f64,
    },
    Normal {
        mean: f64,
        std: f64,
    },
}

impl Init {
    /// The name used in `.dl` files (`init: "he_normal"`) and dumps.
    pub fn name(&self) -> &'static str {
        match self {
            Init::Zeros => "zeros",
            Init::Ones => "ones",
            Init::Constant(_) => "constant",
            Init::GlorotUniform => "glorot_uniform",
            Init::GlorotNormal => "glorot_normal",
            Init::HeUniform => "he_uniform",
            Init::HeNormal => "he_normal",
            Init::LecunNormal => "lecun_normal",
            Init::Uniform { .. } => "uniform",
            Init::Normal { .. } => "normal",
        }
    }

    /// The initializers a user can name without arguments.
    pub fn by_name(name: &str) -> Option<Init> {
        Some(match name {
            "zeros" => Init::Zeros,
            "ones" => Init::Ones,
            "glorot_uniform" | "xavier_uniform" => Init::GlorotUniform,
            "glorot_normal" | "xavier_normal" => Init::GlorotNormal,
            "he_uniform" | "kaiming_uniform" => Init::HeUniform,
            "he_normal" | "kaiming_normal" => Init::HeNormal,
            "lecun_normal" => Init::LecunNormal,
            _ => return None,
        })
    }

    pub const NAMES: &'static [&'static str] = &[
        "zeros",
        "ones",
        "glorot_uniform",
        "glorot_normal",
        "he_uniform",
        "he_normal",
        "lecun_normal",
    ];
}
