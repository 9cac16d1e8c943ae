//! Names in free text without a key: capitalized words read against a
//! gazetteer of given names and surnames (`names/`, see its README for the
//! sources), with the context that tells a name from a common word.
//!
//! - A known given name followed by capitalized words is a name
//!   (`Megan Maur`, `Will Smith`), unless both are also common words
//!   (`May White`), which need a lead (`by May White`).
//! - A capitalized word, an initial and a capitalized word is a name
//!   (`Lena P Wirth`, `Yuuto E. Oosawa`).
//! - An unknown capitalized word followed by a known surname is a name
//!   (`Alibek Godina`), unless the first word starts places
//!   (`New York`, `San Diego`).
//! - A known given name alone is a name, unless it is also a common word,
//!   a month or a well-known place or product (`Will`, `April`, `Paris`,
//!   `Travis`); a known surname alone is a name only after a lead word
//!   (`by`, `with`, `said`) or before `'s`.
//! - Nothing followed by a company or street word is a name
//!   (`Walker Inc`, `Jordan Street`).

#[allow(clippy::wildcard_imports)]
use super::*;

use super::gazetteer::{COMMON, FIRST, LAST, MAX_NAME, lookup};

/// What the gazetteer knows of one word: `FIRST`, `LAST`, `COMMON` bits,
/// 0 for a word it does not list or that is rather a month, a place or a
/// product (`April`, `Paris`, `Travis`).
fn class_of(word: &[u8]) -> u8 {
    match lookup(word) {
        0 => 0,
        _ if denied(word) => 0,
        class => class,
    }
}

/// Names that are far more often a month, a day, a place or a product in
/// the text an agent handles.
fn denied(word: &[u8]) -> bool {
    matches!(
        word,
        b"January"
            | b"February"
            | b"March"
            | b"April"
            | b"May"
            | b"June"
            | b"July"
            | b"August"
            | b"September"
            | b"October"
            | b"November"
            | b"December"
            | b"Christmas"
            | b"Easter"
            | b"Paris"
            | b"London"
            | b"Berlin"
            | b"Austin"
            | b"Dallas"
            | b"Houston"
            | b"Boston"
            | b"Denver"
            | b"Phoenix"
            | b"Orlando"
            | b"Florence"
            | b"Georgia"
            | b"Virginia"
            | b"Carolina"
            | b"Jordan"
            | b"Chelsea"
            | b"Sydney"
            | b"Victoria"
            | b"Madison"
            | b"Lincoln"
            | b"Charlotte"
            | b"Savannah"
            | b"Cleveland"
            | b"Jackson"
            | b"Washington"
            | b"Israel"
            | b"India"
            | b"China"
            | b"Kent"
            | b"Memphis"
            | b"Tyler"
            | b"Aurora"
            | b"Regina"
            | b"Salem"
            | b"Troy"
            | b"Florida"
            | b"Nevada"
            | b"Dakota"
            | b"Montana"
            | b"Indiana"
            | b"Vienna"
            | b"Valencia"
            | b"Sofia"
            | b"Adelaide"
            | b"Brisbane"
            | b"Darwin"
            | b"Hamilton"
            | b"Wellington"
            | b"Travis"
            | b"Jenkins"
            | b"Julia"
            | b"Ruby"
            | b"Alexa"
            | b"Siri"
            | b"Cortana"
            | b"Kafka"
            | b"Django"
            | b"Flask"
            | b"Hadoop"
            | b"Ubuntu"
            | b"Debian"
            | b"Fedora"
            | b"Mercedes"
            | b"Porsche"
            | b"Tesla"
            | b"Dell"
            | b"Chase"
            | b"Wells"
            | b"Fargo"
            | b"Morgan"
            | b"Stanley"
            | b"Goldman"
            | b"Lloyd"
            | b"Lloyds"
            | b"Barclays"
            | b"Marriott"
            | b"Hilton"
            | b"Disney"
            | b"Ford"
            | b"Kia"
            | b"Honda"
            | b"Mazda"
            | b"Lexus"
            | b"Nike"
            | b"Oracle"
            | b"Apple"
            | b"Amazon"
            | b"Google"
            | b"Microsoft"
            | b"God"
            | b"Jesus"
            | b"Christ"
            | b"Lord"
            | b"Allah"
            | b"Mon"
            | b"Tue"
            | b"Wed"
            | b"Thu"
            | b"Fri"
            | b"Sat"
            | b"Sun"
            | b"Jan"
            | b"Feb"
            | b"Mar"
            | b"Apr"
            | b"Jun"
            | b"Jul"
            | b"Aug"
            | b"Sep"
            | b"Sept"
            | b"Oct"
            | b"Nov"
            | b"Dec"
            | b"Afghanistan"
            | b"Albania"
            | b"Algeria"
            | b"Andorra"
            | b"Angola"
            | b"Argentina"
            | b"Armenia"
            | b"Australia"
            | b"Austria"
            | b"Azerbaijan"
            | b"Bahamas"
            | b"Bahrain"
            | b"Bangladesh"
            | b"Barbados"
            | b"Belarus"
            | b"Belgium"
            | b"Belize"
            | b"Benin"
            | b"Bhutan"
            | b"Bolivia"
            | b"Bosnia"
            | b"Botswana"
            | b"Brazil"
            | b"Brunei"
            | b"Bulgaria"
            | b"Burundi"
            | b"Cambodia"
            | b"Cameroon"
            | b"Canada"
            | b"Chile"
            | b"Colombia"
            | b"Congo"
            | b"Croatia"
            | b"Cuba"
            | b"Cyprus"
            | b"Czechia"
            | b"Denmark"
            | b"Djibouti"
            | b"Dominica"
            | b"Ecuador"
            | b"Egypt"
            | b"Eritrea"
            | b"Estonia"
            | b"Ethiopia"
            | b"Fiji"
            | b"Finland"
            | b"France"
            | b"Gabon"
            | b"Gambia"
            | b"Germany"
            | b"Ghana"
            | b"Greece"
            | b"Greenland"
            | b"Grenada"
            | b"Guatemala"
            | b"Guinea"
            | b"Guyana"
            | b"Haiti"
            | b"Honduras"
            | b"Hungary"
            | b"Iceland"
            | b"Indonesia"
            | b"Iran"
            | b"Iraq"
            | b"Ireland"
            | b"Italy"
            | b"Jamaica"
            | b"Japan"
            | b"Kazakhstan"
            | b"Kenya"
            | b"Kiribati"
            | b"Korea"
            | b"Kosovo"
            | b"Kuwait"
            | b"Laos"
            | b"Latvia"
            | b"Lebanon"
            | b"Lesotho"
            | b"Liberia"
            | b"Libya"
            | b"Liechtenstein"
            | b"Lithuania"
            | b"Luxembourg"
            | b"Madagascar"
            | b"Malawi"
            | b"Malaysia"
            | b"Maldives"
            | b"Mali"
            | b"Malta"
            | b"Mauritania"
            | b"Mauritius"
            | b"Mexico"
            | b"Moldova"
            | b"Monaco"
            | b"Mongolia"
            | b"Montenegro"
            | b"Morocco"
            | b"Mozambique"
            | b"Myanmar"
            | b"Namibia"
            | b"Nauru"
            | b"Nepal"
            | b"Netherlands"
            | b"Nicaragua"
            | b"Niger"
            | b"Nigeria"
            | b"Norway"
            | b"Oman"
            | b"Pakistan"
            | b"Palau"
            | b"Panama"
            | b"Paraguay"
            | b"Peru"
            | b"Philippines"
            | b"Poland"
            | b"Portugal"
            | b"Qatar"
            | b"Romania"
            | b"Russia"
            | b"Rwanda"
            | b"Samoa"
            | b"Senegal"
            | b"Serbia"
            | b"Seychelles"
            | b"Singapore"
            | b"Slovakia"
            | b"Slovenia"
            | b"Somalia"
            | b"Spain"
            | b"Sudan"
            | b"Suriname"
            | b"Sweden"
            | b"Switzerland"
            | b"Syria"
            | b"Taiwan"
            | b"Tajikistan"
            | b"Tanzania"
            | b"Thailand"
            | b"Togo"
            | b"Tonga"
            | b"Trinidad"
            | b"Tunisia"
            | b"Turkey"
            | b"Uganda"
            | b"Ukraine"
            | b"Uruguay"
            | b"Uzbekistan"
            | b"Vanuatu"
            | b"Venezuela"
            | b"Vietnam"
            | b"Yemen"
            | b"Zambia"
            | b"Zimbabwe"
            | b"Europe"
            | b"Africa"
            | b"Asia"
            | b"America"
            | b"Americas"
            | b"Antarctica"
            | b"Oceania"
            | b"Scotland"
            | b"Wales"
            | b"England"
            | b"Britain"
            | b"German"
            | b"French"
            | b"Italian"
            | b"Spanish"
            | b"Dutch"
            | b"English"
            | b"British"
            | b"Irish"
            | b"Scottish"
            | b"Welsh"
            | b"American"
            | b"Canadian"
            | b"Australian"
            | b"Swiss"
            | b"Swedish"
            | b"Danish"
            | b"Norwegian"
            | b"Finnish"
            | b"Polish"
            | b"Greek"
            | b"Turkish"
            | b"Russian"
            | b"Chinese"
            | b"Japanese"
            | b"Korean"
            | b"Indian"
            | b"Mexican"
            | b"Brazilian"
            | b"Portuguese"
            | b"Belgian"
            | b"Austrian"
            | b"Hungarian"
            | b"Czech"
            | b"Greenlander"
            | b"Icelandic"
            | b"Jewish"
            | b"Muslim"
            | b"Catholic"
            | b"Monday"
            | b"Tuesday"
            | b"Wednesday"
            | b"Thursday"
            | b"Friday"
            | b"Saturday"
            | b"Sunday"
            | b"Montag"
            | b"Dienstag"
            | b"Mittwoch"
            | b"Donnerstag"
            | b"Freitag"
            | b"Samstag"
            | b"Sonntag"
            | b"Lundi"
            | b"Mardi"
            | b"Mercredi"
            | b"Jeudi"
            | b"Vendredi"
            | b"Samedi"
            | b"Dimanche"
            | b"Lunes"
            | b"Martes"
            | b"Jueves"
            | b"Viernes"
            | b"Domingo"
            | b"Lunedi"
            | b"Martedi"
            | b"Giovedi"
            | b"Venerdi"
            | b"Sabato"
    )
}

/// First words of place names (`New York`, `San Diego`, `Fort Worth`):
/// not a given name before a surname.
fn starts_a_place(word: &[u8]) -> bool {
    matches!(
        word,
        b"New"
            | b"San"
            | b"Santa"
            | b"Santo"
            | b"Los"
            | b"Las"
            | b"Saint"
            | b"St"
            | b"Sainte"
            | b"Fort"
            | b"Port"
            | b"North"
            | b"South"
            | b"East"
            | b"West"
            | b"Upper"
            | b"Lower"
            | b"Great"
            | b"Little"
            | b"Mount"
            | b"Lake"
            | b"Cape"
            | b"Glen"
            | b"El"
            | b"La"
            | b"Le"
            | b"Les"
            | b"Des"
            | b"Del"
            | b"Bad"
            | b"Den"
            | b"Old"
            | b"Royal"
            | b"United"
            | b"Palm"
            | b"Long"
            | b"Grand"
            | b"Rio"
            | b"Costa"
            | b"Puerto"
            | b"Monte"
            | b"Hong"
            | b"Via"
            | b"Viale"
            | b"Piazza"
            | b"Corso"
            | b"Largo"
            | b"Rua"
            | b"Rue"
            | b"Calle"
            | b"Avenida"
            | b"Plaza"
            | b"Prince"
            | b"Princess"
            | b"King"
            | b"Queen"
            | b"Cite"
    )
}

/// Words after which capitalized words are not a name but a company, an
/// institution or a street (`Walker Inc`, `Jordan Street`,
/// `Hamilton Hospital`).
fn ends_a_non_name(word: &[u8]) -> bool {
    matches!(
        word,
        b"Inc"
            | b"Ltd"
            | b"Llc"
            | b"LLC"
            | b"Corp"
            | b"Corporation"
            | b"Company"
            | b"Co"
            | b"Group"
            | b"Holdings"
            | b"Partners"
            | b"Associates"
            | b"Bank"
            | b"Trust"
            | b"Fund"
            | b"Capital"
            | b"Foundation"
            | b"Institute"
            | b"University"
            | b"College"
            | b"School"
            | b"Hospital"
            | b"Clinic"
            | b"Center"
            | b"Centre"
            | b"Street"
            | b"St"
            | b"Avenue"
            | b"Ave"
            | b"Road"
            | b"Rd"
            | b"Lane"
            | b"Drive"
            | b"Boulevard"
            | b"Blvd"
            | b"Way"
            | b"Court"
            | b"Place"
            | b"Square"
            | b"Park"
            | b"Parkway"
            | b"Highway"
            | b"Terrace"
            | b"Plaza"
            | b"Station"
            | b"Airport"
            | b"Hotel"
            | b"County"
            | b"City"
            | b"State"
            | b"Island"
            | b"Islands"
            | b"Beach"
            | b"Valley"
            | b"Heights"
            | b"Hills"
            | b"Springs"
            | b"Falls"
            | b"River"
            | b"Bridge"
            | b"Gardens"
            | b"Museum"
            | b"Library"
            | b"Church"
            | b"Cathedral"
            | b"Stadium"
            | b"Theatre"
            | b"Theater"
            | b"Award"
            | b"Awards"
            | b"Prize"
            | b"Act"
            | b"Law"
            | b"Day"
            | b"Cup"
            | b"Mountain"
            | b"Mountains"
            | b"Strasse"
            | b"Stra\xc3\x9fe"
            | b"Weg"
            | b"Platz"
            | b"Allee"
            | b"Gasse"
            | b"Rue"
            | b"Via"
            | b"Calle"
            | b"Plein"
            | b"Straat"
            | b"Laan"
    )
}

/// Lowercase words after which a single capitalized name stands out
/// (`by Smith`, `said Kowalski`, `call me Ernest`).
fn leads(word: &[u8]) -> bool {
    matches!(
        word,
        b"by"
            | b"for"
            | b"with"
            | b"said"
            | b"says"
            | b"asked"
            | b"told"
            | b"called"
            | b"named"
            | b"and"
            | b"met"
            | b"meet"
            | b"via"
            | b"per"
            | b"me"
            | b"from"
            | b"to"
            | b"cc"
            | b"attn"
            | b"ask"
            | b"tell"
            | b"thanks"
            | b"dear"
            | b"hi"
            | b"hello"
    )
}

/// Lowercase words that start a street's name (`rue Marie de Médicis`,
/// `cours Jean Jaures`, `via Carlo Cattaneo`).
fn street_word(word: &[u8]) -> bool {
    matches!(
        word,
        b"via"
            | b"viale"
            | b"piazza"
            | b"corso"
            | b"rue"
            | b"cours"
            | b"avenue"
            | b"rua"
            | b"calle"
            | b"avenida"
            | b"paseo"
            | b"plaza"
            | b"chemin"
            | b"boulevard"
            | b"place"
            | b"quai"
            | b"impasse"
            | b"allee"
            | b"strada"
            | b"largo"
            | b"vicolo"
            | b"travessa"
            | b"carrer"
            | b"ronda"
    )
}

/// Words after which a capitalized word is a person even when the
/// gazetteer does not know it (`said Sanela`, `told Marik`,
/// `call me Nusa`, `named him Paien`).
fn strong_lead(bytes: &[u8], at: usize) -> bool {
    let before = word_before(bytes, at);
    if matches!(
        before,
        b"said" | b"asked" | b"told" | b"named" | b"thanked" | b"married"
    ) {
        return true;
    }
    let Some(earlier) = at.checked_sub(before.len() + 1) else {
        return false;
    };
    let first = word_before(bytes, earlier);
    matches!(
        (first, before),
        (b"call" | b"called" | b"leave" | b"told" | b"asked", b"me")
            | (b"named" | b"called", b"him" | b"her")
    )
}

/// Particles inside a name (`Ludwig van Beethoven`, `Maria de la Cruz`).
fn particle(word: &[u8]) -> bool {
    matches!(
        word,
        b"van"
            | b"von"
            | b"der"
            | b"den"
            | b"de"
            | b"la"
            | b"le"
            | b"di"
            | b"da"
            | b"del"
            | b"du"
            | b"dos"
            | b"das"
            | b"ter"
            | b"ten"
            | b"zu"
            | b"y"
    )
}

/// The lowercase word just before `at` (after one space), if any.
fn word_before(bytes: &[u8], at: usize) -> &[u8] {
    if at < 2 || bytes[at - 1] != b' ' {
        return &[];
    }
    let end = at - 1;
    let mut start = end;
    while start > 0 && end - start < 8 && bytes[start - 1].is_ascii_alphabetic() {
        start -= 1;
    }
    if start > 0 && is_word(bytes[start - 1]) {
        return &[];
    }
    &bytes[start..end]
}

/// One word of a name: its end, and its end without a possessive `'s`.
fn name_word(scanner: &Scanner<'_>, at: usize) -> Option<(usize, usize)> {
    let bytes = scanner.bytes;
    // Most words are a capital and lowercase letters that end at a space
    // or a punctuation mark: read them without the general reader.
    let first = *bytes.get(at)?;
    if !first.is_ascii_uppercase() || at > 0 && is_word(bytes[at - 1]) {
        if !(0xC3..=0xC5).contains(&first) {
            return None;
        }
    } else {
        let mut k = at + 1;
        while k < bytes.len() && bytes[k].is_ascii_lowercase() {
            k += 1;
        }
        let plain = bytes
            .get(k)
            .is_none_or(|&b| !is_word(b) && !matches!(b, b'\'' | b'-' | b'.'));
        if plain && k - at >= 2 {
            return Some((k, k));
        }
    }
    let end = capitalized_word(scanner, at)?;
    let word = &scanner.bytes[at..end];
    // A contraction is no name: `I'm`, `We'll`, `Don't`.
    if let Some(apostrophe) = word.iter().rposition(|&b| b == b'\'') {
        let tail = &word[apostrophe + 1..];
        if tail != b"s" && tail.len() <= 3 && tail.iter().all(u8::is_ascii_lowercase) {
            return None;
        }
    }
    let bare = if word.ends_with(b"'s") && word.len() > 3 {
        end - 2
    } else if scanner.bytes[end..].starts_with("’s".as_bytes()) && word.len() > 1 {
        // The curly apostrophe is not part of the word: `Tero’s`.
        return Some((end, end));
    } else {
        end
    };
    Some((end, bare))
}

/// A name starting at the capitalized word `i..j` that no key or cue
/// announced. Returns where scanning resumes when one was found.
#[inline(never)]
pub(crate) fn person(scanner: &mut Scanner<'_>, i: usize, j: usize) -> Option<usize> {
    let bytes = scanner.bytes;
    // Shape first: an uppercase letter and a lowercase one, as names are
    // written; `ERROR`, `GET`, `I`, `HttpClient` are refused here.
    // Glued to what follows as a path, an address or a call is no name
    // (`Mozilla/5.0`, `Taylor@`, `Grace(`): refused before any look-up.
    if matches!(bytes.get(j), Some(b'/' | b'@' | b'(' | b'_' | b'=' | b'['))
        || bytes.get(j) == Some(&b'.') && bytes.get(j + 1).is_some_and(u8::is_ascii_alphanumeric)
    {
        return None;
    }
    let second = *bytes.get(i + 1)?;
    let apostrophe = second == b'\'' && matches!(bytes[i], b'O' | b'D');
    if !(second.is_ascii_lowercase() || second >= 0x80 || apostrophe) || j - i > MAX_NAME {
        return None;
    }
    if i > 0
        && matches!(
            bytes[i - 1],
            b'/' | b'.' | b'@' | b'-' | b'_' | b'=' | b'#' | b'$'
        )
    {
        return None;
    }
    let (first_end, first_bare) = name_word(scanner, i)?;
    let first = &bytes[i..first_bare];
    if not_a_name(first) || first.len() < 2 {
        return None;
    }
    // What follows a name as written in prose: not a path, an address, a
    // call or a file (`Taylor.json`, `Grace(`).
    let glued = |end: usize| {
        matches!(
            bytes.get(end),
            Some(b'@' | b'/' | b'(' | b'_' | b'=' | b'[')
        ) || bytes.get(end) == Some(&b'.')
            && bytes.get(end + 1).is_some_and(u8::is_ascii_alphanumeric)
    };
    if glued(first_end) {
        return None;
    }
    let first_class = class_of(first);
    // The most common case in logs and prose: one word the gazetteer does
    // not know, with no capitalized word after it (`Linux`, `Connection`).
    let next_capital = bytes.get(first_end) == Some(&b' ')
        && bytes.get(first_end + 1).is_some_and(
            |&b| matches!(b, b'A'..=b'Z' | 0xC3..=0xC5 | b'v' | b'd' | b'l' | b't' | b'z' | b'y'),
        );
    if first_class == 0 && !next_capital && first_bare == first_end {
        if !strong_lead(bytes, i) || denied(first) {
            return None;
        }
        scanner.push(Kind::Name, i..first_end, 0.5);
        return Some(listed_after(scanner, first_end));
    }

    // The words after the first: capitalized words, initials and particles,
    // separated by single spaces; at most three more.
    let mut classes = [0u8; 4];
    let mut count = 1;
    let mut initial = false;
    let mut pending_initial = false;
    let mut end = first_bare;
    let mut possessive = first_bare < first_end;
    let mut cursor = first_end;
    let mut resume = first_end;
    while count < 4 && !possessive && bytes.get(cursor) == Some(&b' ') {
        let mut at = cursor + 1;
        // Particles: `van der`, `de la`.
        let mut particles = 0;
        loop {
            let stop = scanner.run_end(at, 4, |b| b.is_ascii_lowercase());
            if stop > at
                && particles < 2
                && bytes.get(stop) == Some(&b' ')
                && particle(&bytes[at..stop])
            {
                at = stop + 1;
                particles += 1;
            } else {
                break;
            }
        }
        // A bare initial: `Lena P Wirth`.
        if bytes.get(at).is_some_and(u8::is_ascii_uppercase)
            && bytes.get(at + 1) == Some(&b' ')
            && (at == 0 || !is_word(bytes[at - 1]))
        {
            pending_initial = true;
            cursor = at + 1;
            continue;
        }
        let Some((next_end, next_bare)) = name_word(scanner, at) else {
            break;
        };
        let word = &bytes[at..next_bare];
        if ends_a_non_name(word.strip_suffix(b".").unwrap_or(word)) {
            return None;
        }
        if not_a_name(word) || glued(next_end) {
            break;
        }
        if word.len() == 1 || word.len() == 2 && word[1] == b'.' {
            // An initial must be followed by the rest of the name.
            pending_initial = true;
            cursor = next_end;
            continue;
        }
        classes[count] = class_of(word);
        count += 1;
        initial |= pending_initial;
        pending_initial = false;
        end = next_bare;
        possessive = next_bare < next_end;
        cursor = next_end;
        resume = next_end;
    }
    classes[0] = first_class;
    let later = &classes[1..count];
    let known = |class: u8| class & (FIRST | LAST) != 0;
    let strong = |class: u8| known(class) && class & COMMON == 0;
    let before = word_before(bytes, i);
    if street_word(before) {
        return None;
    }
    let lead = leads(before);

    if starts_a_place(first) {
        // `New York`, `San Diego`: the place is read whole, so that its
        // second word is not read as a name of its own.
        return Some(resume);
    }
    let name = if count >= 2 {
        let given = first_class & FIRST != 0;
        // After a lead, a month or a place that is also a given name
        // counts again: `by May White`, `with Georgia Smith`.
        let given_after_lead = lead && lookup(first) & FIRST != 0;
        let any_strong = strong(first_class) || later.iter().any(|&c| strong(c));
        let surname_last = later.last().is_some_and(|&c| strong(c) && c & LAST != 0);
        (given && any_strong)
            || (given_after_lead && later.iter().any(|&c| known(c)))
            || initial
            || (surname_last && !denied(first))
    } else if known(first_class) {
        strong(first_class)
            && (first_class & FIRST != 0 || lead || possessive || dialogue(scanner, i, first_end))
    } else {
        // A word the gazetteer does not know, after a word that announces a
        // person: `said Sanela`, `call me Nusa`, `named him Paien`.
        strong_lead(bytes, i) && !denied(first)
    };
    if !(name || count >= 2 && strong_lead(bytes, i) && !denied(first)) {
        return None;
    }
    scanner.push(Kind::Name, i..end, 0.5);
    Some(listed_after(scanner, resume))
}

/// Names listed after a name: `Potter and Burns`, `Lilja, Pergande and
/// Butte`. A capitalized word after `, ` or ` and ` is one more name
/// unless it is a month, a place, a product, a company or a common
/// capitalized word. Returns where scanning resumes.
fn listed_after(scanner: &mut Scanner<'_>, mut resume: usize) -> usize {
    let bytes = scanner.bytes;
    for _ in 0..6 {
        let rest = &bytes[resume..];
        let skip = [&b", and "[..], b" and ", b", "]
            .iter()
            .find(|joint| rest.starts_with(joint))
            .map_or(0, |joint| joint.len());
        if skip == 0 {
            break;
        }
        let at = resume + skip;
        let Some((end, bare)) = name_word(scanner, at) else {
            break;
        };
        let word = &bytes[at..bare];
        let followed =
            |k: usize| matches!(bytes.get(k), Some(b' ')) && name_word(scanner, k + 1).is_some();
        if word.len() < 2
            || not_a_name(word)
            || denied(word)
            || starts_a_place(word)
            || ends_a_non_name(word)
            || followed(end)
            || matches!(
                bytes.get(end),
                Some(b'@' | b'/' | b'(' | b'_' | b'=' | b'[')
            )
        {
            break;
        }
        scanner.push(Kind::Name, at..bare, 0.4);
        resume = end;
    }
    resume
}

/// `Howard: You saved my life!`: a name at the start of a line before a
/// colon.
fn dialogue(scanner: &Scanner<'_>, i: usize, end: usize) -> bool {
    let bytes = scanner.bytes;
    let line_start = i == 0 || bytes[i - 1] == b'\n' || i >= 2 && &bytes[i - 2..i] == b"\\n";
    line_start && bytes.get(end) == Some(&b':')
}
