mod manual;
mod notes;
mod zim;
