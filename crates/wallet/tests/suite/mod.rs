mod read;
mod sends;
