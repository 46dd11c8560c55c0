mod finder;
mod pii;
mod recall;
mod restore;
