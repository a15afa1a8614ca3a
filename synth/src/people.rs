//! The residents of the synthetic city, drawn in order from one stream. A citizen ID needs a
//! sequence code unused by anyone born the same day in the same district, so residents are
//! produced sequentially with a counter per (district, birth date, sex); every table that needs
//! residents replays the same stream.

use chrono::{Duration, NaiveDate};
use rand::rngs::StdRng;
use rand::Rng;

use super::dates::{age_reference, ymd};
use super::dist::Weighted;
use super::geo::{District, DISTRICTS};
use super::seed;
use super::GenerateError;
use shuyu_datasets::ids;

/// Residents are born from this day (age 99 on the reference day) ...
fn first_birth() -> NaiveDate {
    ymd(1926, 1, 2)
}

/// ... to this day (age 0).
fn last_birth() -> NaiveDate {
    ymd(2025, 12, 31)
}

/// Sequence codes per (district, day, sex): odd 1..=997 for men, even 2..=998 for women.
const SEQUENCES_PER_SEX: u16 = 499;

/// Share of men.
const MALE_SHARE: f64 = 0.512;

/// Relative size of each five-year age band 0–4, 5–9, …, 95–99 (an ageing city).
const AGE_BANDS: [f64; 20] = [
    4.5, 5.5, 5.5, 4.8, 5.5, 7.0, 9.0, 8.5, 7.5, 7.8, 8.2, 7.0, 5.8, 5.2, 4.0, 2.6, 1.5, 0.8, 0.3,
    0.1,
];

/// One resident as the whole city sees it.
#[derive(Debug, Clone)]
pub(super) struct Person {
    /// Position in the stream, 0-based.
    pub index: u64,
    pub citizen_id: String,
    pub district: &'static District,
    pub birth: NaiveDate,
    pub male: bool,
    /// Completed years on the reference day (2026-01-01).
    pub age: i64,
}

/// The stream of `count` residents.
#[derive(Debug)]
pub(super) struct People {
    rng: StdRng,
    districts: Weighted,
    bands: Weighted,
    first: NaiveDate,
    days: usize,
    /// Sequence codes used so far, per district × birth day × sex.
    used: Vec<u16>,
    next: u64,
    count: u64,
}

impl People {
    /// The stream of `count` residents under the user's seed.
    pub(super) fn new(seed: u64, count: u64) -> Self {
        let first = first_birth();
        let days = (last_birth() - first).num_days() as usize + 1;
        People {
            rng: seed::stream(seed, "people"),
            districts: Weighted::new(DISTRICTS.iter().map(|d| d.population)),
            bands: Weighted::new(AGE_BANDS),
            first,
            days,
            used: vec![0; DISTRICTS.len() * days * 2],
            next: 0,
            count,
        }
    }

    fn draw(&mut self) -> Result<Person, GenerateError> {
        let d = self.districts.sample(&mut self.rng);
        let band = self.bands.sample(&mut self.rng) as f64;
        let male = self.rng.random_bool(MALE_SHARE);
        let reference = age_reference();
        // Days before the reference day, uniform within the five-year band.
        let lo = (band * 5.0 * 365.2425) as i64;
        let hi = ((band + 1.0) * 5.0 * 365.2425) as i64;
        let back = self.rng.random_range(lo.max(1)..hi.max(2));
        let birth = (reference - Duration::days(back)).clamp(self.first, last_birth());

        // A full day moves the birth to the next day with a free sequence code; at any sane scale
        // no day fills up, but this keeps IDs unique at every scale.
        let mut day = (birth - self.first).num_days() as usize;
        let mut slot = (d * self.days + day) * 2 + usize::from(male);
        let mut tries = 0;
        while self.used[slot] >= SEQUENCES_PER_SEX {
            tries += 1;
            if tries >= self.days {
                return Err(GenerateError::TooLarge(
                    "every birth day of a district has used all sequence codes",
                ));
            }
            day = (day + 1) % self.days;
            slot = (d * self.days + day) * 2 + usize::from(male);
        }
        let birth = self.first + Duration::days(day as i64);
        let n = self.used[slot];
        self.used[slot] = n + 1;
        // Men odd, women even: 2n+1 or 2n+2.
        let sequence = 2 * n + if male { 1 } else { 2 };
        let district = &DISTRICTS[d];
        let citizen_id = ids::make_citizen_id(district.code, birth, sequence)?;
        let age = i64::from(reference.years_since(birth).unwrap_or(0));
        let index = self.next;
        Ok(Person {
            index,
            citizen_id,
            district,
            birth,
            male,
            age,
        })
    }
}

impl Iterator for People {
    type Item = Result<Person, GenerateError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.count {
            return None;
        }
        let person = self.draw();
        self.next += 1;
        Some(person)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn residents_have_valid_unique_consistent_ids() {
        let mut seen = BTreeSet::new();
        let people: Vec<_> = People::new(9, 20_000).map(|p| p.unwrap()).collect();
        assert_eq!(people.len(), 20_000);
        for (i, p) in people.iter().enumerate() {
            assert_eq!(p.index, i as u64);
            assert!(ids::citizen_id_is_valid(&p.citizen_id), "{}", p.citizen_id);
            assert!(seen.insert(p.citizen_id.clone()));
            assert_eq!(&p.citizen_id[..6], p.district.code);
            assert_eq!(ids::citizen_id_birth_date(&p.citizen_id), Some(p.birth));
            let seq: u32 = p.citizen_id[14..17].parse().unwrap();
            assert_eq!(seq % 2 == 1, p.male);
            assert!((0..=99).contains(&p.age), "{}", p.age);
        }
        let again: Vec<_> = People::new(9, 100).map(|p| p.unwrap().citizen_id).collect();
        let first: Vec<_> = people[..100].iter().map(|p| p.citizen_id.clone()).collect();
        assert_eq!(again, first);
    }

    #[test]
    fn full_days_spill_over_then_fail() {
        let mut people = People::new(3, u64::MAX);
        // Every day full except the first: any draw must wrap around to it.
        let days = people.days;
        for (slot, v) in people.used.iter_mut().enumerate() {
            if (slot / 2) % days != 0 {
                *v = SEQUENCES_PER_SEX;
            }
        }
        for _ in 0..20 {
            let p = people.next().unwrap().unwrap();
            assert_eq!(p.birth, first_birth());
            assert!(ids::citizen_id_is_valid(&p.citizen_id));
        }
        for v in people.used.iter_mut() {
            *v = SEQUENCES_PER_SEX;
        }
        assert!(matches!(
            people.next(),
            Some(Err(GenerateError::TooLarge(_)))
        ));
    }
}
