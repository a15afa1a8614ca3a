//! `shuyu whoami`: the identity the token belongs to.

use shuyu::governance::model::Identity;

use super::{dates, output::label, CliResult, Globals};

pub(crate) fn run(globals: &Globals) -> CliResult {
    let client = globals.client("whoami")?;
    let reply = client.get::<Identity>("/v1/whoami")?;
    if globals.json {
        globals.print_json(&reply.raw);
        return Ok(());
    }
    let me = &reply.value;
    println!("{} ({}) on {}", me.id, label(&me.role), client.url());
    println!("  name        {}", me.name);
    if let Some(usci) = &me.usci {
        println!("  usci        {usci}");
    }
    if let Some(department) = &me.department {
        println!("  department  {department}");
    }
    println!("  status      {}", label(&me.status));
    if let Some(line) = super::dates::changed_line(me.status_change.as_ref()) {
        println!("  changed     {line}");
    }
    println!("  since       {}", dates::show(&me.created_at));
    Ok(())
}
