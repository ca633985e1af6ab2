//! The `lstm` command. For now: `--help`, `--version` and `inspect` of a weight file; training,
//! forecasting and generation subcommands come with the training and CLI work.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Train, evaluate, inspect and run LSTM / GRU / RNN networks — weights compatible with PyTorch.
#[derive(Parser)]
#[command(name = "lstm", version, about, long_about = None)]
#[command(after_help = "Example:\n  lstm inspect model.safetensors")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the config and parameters of a .safetensors weight file (PyTorch state_dict or ours).
    #[command(after_help = "Example:\n  lstm inspect model.safetensors --prefix lstm.")]
    Inspect(InspectArgs),
}

#[derive(clap::Args)]
struct InspectArgs {
    /// The .safetensors file.
    model: PathBuf,
    /// Module prefix of the recurrent tensors, e.g. `lstm.` for `lstm.weight_ih_l0`.
    #[arg(long, default_value = "")]
    prefix: String,
}

fn inspect(args: &InspectArgs) -> anyhow::Result<()> {
    let stack = lstm::io::load_stack(&args.model, &args.prefix, None)
        .context("cannot inspect the model")?;
    println!("{}", stack.config().describe());
    let mut total = 0;
    for name in stack.param_names() {
        let t = stack.param(&name).expect("own parameter");
        total += t.data().len();
        println!("  {}{name:<24} {:?}", args.prefix, t.shape());
    }
    println!("{total} parameters");
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Inspect(a) => inspect(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
