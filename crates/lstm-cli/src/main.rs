//! The `lstm` command: a thin layer over the `lstm` library, one file per subcommand.

mod common;
mod eval;
mod flow;
mod forecast;
mod gates;
mod generate;
mod html;
mod inspect;
mod lab;
mod plot;
mod progress;
mod train;

use clap::{Parser, Subcommand};

/// Train, evaluate, inspect and run LSTM / GRU / RNN networks on time series, text and labelled
/// sequences — weights compatible with PyTorch.
#[derive(Parser)]
#[command(name = "lstm", version, about, long_about = None)]
#[command(after_help = "Examples:
  lstm train                                   forecast the embedded weekly CO2 series; prints test RMSE vs baselines
  lstm forecast lstm-co2.safetensors           the next 26 weeks
  lstm train novel.txt && lstm generate novel.safetensors --prime \"The \"
  lstm eval model.safetensors data.jsonl
  lstm inspect model.safetensors
  lstm lab adding --lags 50,100,200           RNN vs GRU vs LSTM on the adding problem: success rate vs lag
  lstm flow                                    how far back the gradient reaches, RNN vs GRU vs LSTM
  lstm gates novel.safetensors --text \"Hello\"  gate and cell heatmaps, and an HTML page per character

Run `lstm <command> --help` for each command's options.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model on a CSV time series, a text file or labelled sequences (default: the embedded CO2 series).
    Train(Box<train::Args>),
    /// Forecast a series past its end with a trained forecaster.
    Forecast(forecast::Args),
    /// Sample text from a character language model.
    Generate(generate::Args),
    /// Evaluate a trained model on a data file.
    Eval(eval::Args),
    /// Show the config and parameters of a model file (or a PyTorch state_dict).
    Inspect(inspect::Args),
    /// Train RNN, GRU and LSTM on a long-lag task (adding, copy, order, dinner) across lags and seeds.
    Lab(lab::Args),
    /// Gradient flow through time: ‖∂L/∂h_t‖ for every t, RNN vs GRU vs LSTM (or a trained model).
    Flow(flow::Args),
    /// Heatmaps of a layer's gates and cell state over an input; an HTML page for text models.
    Gates(gates::Args),
}

/// A closed pipe (`lstm lab … | head`) ends the process quietly, as for other command-line tools,
/// instead of making `println!` panic.
fn quiet_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() {
    quiet_on_closed_pipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(a) => train::run(*a, progress::install_ctrlc()),
        Command::Forecast(a) => forecast::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Lab(a) => lab::run(a),
        Command::Flow(a) => flow::run(a),
        Command::Gates(a) => gates::run(a),
    };
    if let Err(e) = result {
        // A closed pipe (e.g. `lstm generate … | head`) is not an error.
        if e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        }) {
            std::process::exit(0);
        }
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
