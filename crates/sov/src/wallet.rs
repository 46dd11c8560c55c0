//! `sov wallet …`: the keystore of the Ethereum accounts (not the ZK-API credits of `sov zkapi`).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use sov_core::paths::Paths;
use sov_wallet::secret::{self, Zeroizing};
use sov_wallet::{Account, Address, Error, Keystore, Passphrase, PrivateKey};

/// `sov wallet …`
#[derive(Debug, Subcommand)]
pub enum WalletCommand {
    /// Create an account with a fresh random key, encrypted under a passphrase you choose.
    ///
    /// The passphrase is asked for twice with echo off, or read from --passphrase-file. The
    /// first account becomes the default. Prints the new address.
    New(PassphraseArgs),
    /// Import an account: a private key, or a keystore file from geth, foundry (`cast wallet`)
    /// or any other keystore v3 implementation.
    ///
    /// A private key is asked for with echo off (64 hex digits), or read from --key-file; it is
    /// then encrypted under a new passphrase (asked twice, or --passphrase-file). A keystore file
    /// (--keystore) keeps its own passphrase, which is asked for (or --passphrase-file) and must
    /// decrypt it before it is copied in. The original file is left where it is.
    Import(ImportArgs),
    /// List the accounts: their addresses, and which is the default. Shows nothing secret.
    List,
    /// Show the default account, or make ADDRESS the default.
    Default {
        /// The account to make the default (0x and 40 hex digits, as `sov wallet list` shows).
        #[arg(value_name = "ADDRESS")]
        address: Option<String>,
    },
}

/// Where a passphrase comes from.
#[derive(Debug, Args)]
pub struct PassphraseArgs {
    /// Read the passphrase from FILE instead of asking.
    ///
    /// FILE must be yours and readable by you alone (`chmod 600 FILE`); one line, a final
    /// newline is dropped. A pipe works too: `--passphrase-file <(pass show wallet)`.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

/// `sov wallet import` flags.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Read the private key (64 hex digits, 0x optional) from FILE instead of asking.
    ///
    /// FILE must be yours and readable by you alone (`chmod 600 FILE`). Delete it once the
    /// account is imported.
    #[arg(long, value_name = "FILE", conflicts_with = "keystore")]
    pub key_file: Option<PathBuf>,
    /// Import this keystore v3 file (JSON) instead of a private key; it keeps its passphrase.
    #[arg(long, value_name = "FILE")]
    pub keystore: Option<PathBuf>,
    /// The passphrase: of the keystore file with --keystore, else the new account's.
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
}

/// Runs `sov wallet …`.
pub fn run(cmd: WalletCommand, paths: &Paths) -> Result<i32> {
    let keystore = Keystore::open(Keystore::dir_in(&paths.data_dir))?;
    match cmd {
        WalletCommand::New(args) => {
            let passphrase = new_passphrase(args.passphrase_file.as_deref())?;
            let account = keystore.create(&passphrase)?;
            print_stored("created", &account);
        }
        WalletCommand::Import(ImportArgs { keystore: Some(file), passphrase, .. }) => {
            let passphrase = match passphrase.passphrase_file.as_deref() {
                Some(path) => Passphrase::from_file(path)?,
                None => Passphrase::new(ask(&format!("passphrase of {}: ", file.display()), "passphrase")?)?,
            };
            let account = keystore.import_file(&file, &passphrase)?;
            print_stored("imported", &account);
        }
        WalletCommand::Import(ImportArgs { key_file, passphrase, keystore: None }) => {
            let key = match key_file.as_deref() {
                Some(path) => PrivateKey::from_file(path)?,
                None => PrivateKey::from_hex(&ask("private key (64 hex digits, not shown): ", "key")?)?,
            };
            let address = key.address();
            if let Some(existing) = keystore.list()?.into_iter().find(|a| a.address == address) {
                return Err(Error::AccountExists { address, file: existing.file }.into());
            }
            let passphrase = new_passphrase(passphrase.passphrase_file.as_deref())?;
            let account = keystore.import_private_key(&key, &passphrase)?;
            print_stored("imported", &account);
        }
        WalletCommand::List => {
            let accounts = keystore.list()?;
            if accounts.is_empty() {
                return Err(Error::NoAccounts.into());
            }
            for account in accounts {
                match account.is_default {
                    true => println!("{}\tdefault", account.address),
                    false => println!("{}", account.address),
                }
            }
        }
        WalletCommand::Default { address: None } => println!("{}", keystore.default()?.address),
        WalletCommand::Default { address: Some(text) } => {
            let account = keystore.set_default(parse_address(&text)?)?;
            println!("default account: {}", account.address);
        }
    }
    Ok(0)
}

fn print_stored(verb: &str, account: &Account) {
    let default = if account.is_default { " (the default account)" } else { "" };
    println!("{verb} {}{default}", account.address);
    println!("keystore file: {}", account.file.display());
}

/// A new account's passphrase: from `file`, or asked twice.
fn new_passphrase(file: Option<&Path>) -> Result<Passphrase> {
    if let Some(path) = file {
        return Ok(Passphrase::from_file(path)?);
    }
    let first = Passphrase::new(ask("passphrase for the new account: ", "passphrase")?)?;
    let again = Passphrase::new(ask("the same passphrase again: ", "passphrase")?)?;
    if first != again {
        bail!("the two passphrases differ; nothing was stored");
    }
    Ok(first)
}

/// Asks on the terminal with echo off; without a terminal, says which flag gives it instead.
fn ask(prompt: &str, what: &str) -> Result<Zeroizing<String>> {
    match secret::prompt_hidden(prompt) {
        Err(Error::NoTerminal) => {
            let flag = if what == "key" { "--key-file" } else { "--passphrase-file" };
            bail!("no terminal to ask for the {what}: pass {flag} FILE (yours, mode 0600)")
        }
        other => Ok(other?),
    }
}

/// An address as the user typed it. The error does not repeat the text (it could be a key
/// pasted by mistake).
fn parse_address(text: &str) -> Result<Address> {
    let digits = text.trim().strip_prefix("0x").unwrap_or(text.trim());
    match digits.len() == 40 && digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        true => Ok(digits.parse()?),
        false => bail!("not an Ethereum address: expected 0x and 40 hex digits, as `sov wallet list` shows"),
    }
}
