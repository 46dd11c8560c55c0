mod api;
mod manual;
mod notes;
mod zim;
