mod finder;
mod recall;
mod restore;
