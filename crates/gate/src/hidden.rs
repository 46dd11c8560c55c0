//! Which characters a human cannot see as they are: [`is_hidden`] (the classes are listed in
//! [`crate::display`]). Both the request checks and the display use it.

/// Whether `c` must be shown by its code point rather than as itself (see [`crate::display`]).
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Format characters (Cf) and default-ignorable code points, by block.
            '\u{00AD}'
                | '\u{034F}'
                | '\u{0600}'..='\u{0605}'
                | '\u{061C}'
                | '\u{06DD}'
                | '\u{070F}'
                | '\u{0890}'..='\u{0891}'
                | '\u{08E2}'
                | '\u{115F}'..='\u{1160}'
                | '\u{17B4}'..='\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFFB}'
                | '\u{110BD}'
                | '\u{110CD}'
                | '\u{13430}'..='\u{1343F}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// Whether `text` has any character [`is_hidden`] finds.
pub fn has_hidden(text: &str) -> bool {
    text.chars().any(is_hidden)
}
