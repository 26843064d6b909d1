pub mod doctor;
pub mod events;
pub mod gc;
pub mod hook;
pub mod install;
pub mod rules;
pub mod status;
pub mod top;
