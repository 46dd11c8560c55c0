mod manual;
mod notes;
