//! Colours named by meaning; plain unless the output is a terminal that wants them.

use console::Style;

/// `--color`: auto (a terminal without `NO_COLOR`), always or never.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Clone, Debug)]
pub struct Styles {
    pub create: Style,
    pub update: Style,
    pub replace: Style,
    pub delete: Style,
    pub dim: Style,
    pub bold: Style,
    pub error: Style,
    pub warn: Style,
}

impl Styles {
    /// No escape codes at all: what snapshots and pipes see.
    pub fn plain() -> Self {
        Styles {
            create: Style::new(),
            update: Style::new(),
            replace: Style::new(),
            delete: Style::new(),
            dim: Style::new(),
            bold: Style::new(),
            error: Style::new(),
            warn: Style::new(),
        }
    }

    pub fn colored() -> Self {
        let s = || Style::new().force_styling(true);
        Styles {
            create: s().green(),
            update: s().yellow(),
            replace: s().magenta(),
            delete: s().red(),
            dim: s().dim(),
            bold: s().bold(),
            error: s().red().bold(),
            warn: s().yellow().bold(),
        }
    }

    /// The styles for stderr under `choice`.
    pub fn for_stderr(choice: ColorChoice) -> Self {
        let wanted = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && console::Term::stderr().is_term()
            }
        };
        if wanted {
            Styles::colored()
        } else {
            Styles::plain()
        }
    }
}
