//! `getDb().executeSql(text, values)` on the native pool: arbitrary SQL with JSON parameters,
//! rows back as JSON shaped like node-postgres's (numbers, booleans, parsed json, int8 and numeric
//! as strings, timestamps flagged for JS to turn into `Date`s).
//!
//! Values are encoded and decoded by the types the server reports for the prepared statement, in
//! PostgreSQL's binary format, for the common types; anything else travels as its text form.

use crate::error::{BossError, Result};
use bytes::{BufMut, BytesMut};
use serde_json::{json, Map, Value};
use std::error::Error as StdError;
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type};

type BoxError = Box<dyn StdError + Sync + Send>;

/// Microseconds between 1970-01-01 and 2000-01-01 (PostgreSQL's epoch).
const PG_EPOCH_US: i64 = 946_684_800_000_000;

#[derive(Debug)]
pub struct Param(pub Value);

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn parse_uuid(s: &str) -> std::result::Result<[u8; 16], BoxError> {
    let hex: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    if hex.len() != 32 {
        return Err(format!("invalid uuid: {s}").into());
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16)?;
    }
    Ok(out)
}

/// `YYYY-MM-DDTHH:MM:SS(.fff)Z` (what `Date#toISOString` produces) as microseconds since 1970.
fn parse_iso_utc(s: &str) -> std::result::Result<i64, BoxError> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> std::result::Result<i64, BoxError> {
        Ok(std::str::from_utf8(b.get(r).ok_or("short timestamp")?)?.parse::<i64>()?)
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = if b.len() >= 19 {
        (num(11..13)?, num(14..16)?, num(17..19)?)
    } else {
        (0, 0, 0)
    };
    let mut micros = 0i64;
    if b.len() > 20 && b[19] == b'.' {
        let frac: String = s[20..].chars().take_while(char::is_ascii_digit).collect();
        let padded = format!("{frac:0<6}");
        micros = padded[..6].parse()?;
    }
    // days from civil (Howard Hinnant)
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = if y2 >= 0 { y2 } else { y2 - 399 } / 400;
    let yoe = y2 - era * 400;
    let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(((days * 86_400 + h * 3600 + mi * 60 + sec) * 1_000_000) + micros)
}

impl ToSql for Param {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> std::result::Result<IsNull, BoxError> {
        let v = &self.0;
        if v.is_null() {
            return Ok(IsNull::Yes);
        }
        if let Kind::Array(_) = ty.kind() {
            let items: Vec<Param> = match v {
                Value::Array(a) => a.iter().cloned().map(Param).collect(),
                other => {
                    return Err(format!("expected an array for {}, got {other}", ty.name()).into())
                }
            };
            return items.to_sql(ty, out);
        }
        let number = || -> std::result::Result<f64, BoxError> {
            match v {
                Value::Number(n) => n.as_f64().ok_or_else(|| "not a number".into()),
                Value::String(s) => Ok(s.trim().parse()?),
                Value::Bool(b) => Ok(f64::from(u8::from(*b))),
                other => Err(format!("not a number: {other}").into()),
            }
        };
        match *ty {
            Type::BOOL => out.put_u8(u8::from(match v {
                Value::Bool(b) => *b,
                Value::String(s) => matches!(s.as_str(), "true" | "t" | "1" | "yes" | "on"),
                other => crate::js::truthy(Some(other)),
            })),
            Type::INT2 => out.put_i16(number()? as i16),
            Type::INT4 => out.put_i32(number()? as i32),
            Type::INT8 => out.put_i64(match v {
                Value::String(s) => s.trim().parse()?,
                _ => number()? as i64,
            }),
            Type::FLOAT4 => out.put_f32(number()? as f32),
            Type::FLOAT8 => out.put_f64(number()?),
            Type::JSONB => {
                out.put_u8(1);
                out.put_slice(v.to_string().as_bytes());
            }
            Type::JSON => out.put_slice(v.to_string().as_bytes()),
            Type::UUID => out.put_slice(&parse_uuid(&text_of(v))?),
            Type::TIMESTAMPTZ | Type::TIMESTAMP => {
                let us = match v {
                    Value::Number(n) => n.as_f64().unwrap_or(0.0) as i64 * 1000,
                    other => parse_iso_utc(&text_of(other))?,
                };
                out.put_i64(us - PG_EPOCH_US);
            }
            // text, varchar, name, enums, unknown: their binary form is the text
            _ => out.put_slice(text_of(v).as_bytes()),
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// One cell decoded to JSON; `date` marks timestamps (epoch ms) for index.js to revive.
pub struct Cell {
    value: Value,
    date: bool,
}

fn numeric_to_string(raw: &[u8]) -> std::result::Result<String, BoxError> {
    let rd = |i: usize| -> std::result::Result<i16, BoxError> {
        Ok(i16::from_be_bytes([
            *raw.get(i).ok_or("short numeric")?,
            *raw.get(i + 1).ok_or("short numeric")?,
        ]))
    };
    let (ndigits, weight, sign, dscale) = (
        rd(0)? as usize,
        rd(2)? as i32,
        rd(4)? as u16,
        rd(6)? as usize,
    );
    if sign == 0xC000 {
        return Ok("NaN".into());
    }
    let digits: Vec<i16> = (0..ndigits)
        .map(|i| rd(8 + i * 2))
        .collect::<std::result::Result<_, _>>()?;
    let mut int_part = String::new();
    for w in 0..=weight.max(-1) {
        let d = digits.get(w as usize).copied().unwrap_or(0);
        if int_part.is_empty() {
            int_part = d.to_string();
        } else {
            int_part.push_str(&format!("{d:04}"));
        }
    }
    if int_part.is_empty() {
        int_part = "0".into();
    }
    let mut frac = String::new();
    let mut i = weight + 1;
    while (frac.len()) < dscale {
        let d = if i < 0 {
            0
        } else {
            digits.get(i as usize).copied().unwrap_or(0)
        };
        frac.push_str(&format!("{d:04}"));
        i += 1;
    }
    frac.truncate(dscale);
    let sign = if sign == 0x4000 { "-" } else { "" };
    Ok(if dscale > 0 {
        format!("{sign}{int_part}.{frac}")
    } else {
        format!("{sign}{int_part}")
    })
}

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> std::result::Result<Self, BoxError> {
        let plain = |value| Ok(Cell { value, date: false });
        if let Kind::Array(_) = ty.kind() {
            let items: Vec<Option<Cell>> = Vec::from_sql(ty, raw)?;
            let date = items.iter().flatten().any(|c| c.date);
            return Ok(Cell {
                value: Value::Array(
                    items
                        .into_iter()
                        .map(|c| c.map(|c| c.value).unwrap_or(Value::Null))
                        .collect(),
                ),
                date,
            });
        }
        match *ty {
            Type::BOOL => plain(json!(bool::from_sql(ty, raw)?)),
            Type::INT2 => plain(json!(i16::from_sql(ty, raw)?)),
            Type::INT4 => plain(json!(i32::from_sql(ty, raw)?)),
            Type::OID => plain(json!(u32::from_sql(ty, raw)?)),
            // node-postgres leaves int8 and numeric as strings (they may not fit a double)
            Type::INT8 => plain(json!(i64::from_sql(ty, raw)?.to_string())),
            Type::NUMERIC => plain(json!(numeric_to_string(raw)?)),
            Type::FLOAT4 => plain(json!(f32::from_sql(ty, raw)?)),
            Type::FLOAT8 => plain(json!(f64::from_sql(ty, raw)?)),
            Type::JSON | Type::JSONB => plain(serde_json::Value::from_sql(ty, raw)?),
            Type::UUID => {
                let h = raw.iter().map(|b| format!("{b:02x}")).collect::<String>();
                if h.len() != 32 {
                    return Err("invalid uuid".into());
                }
                plain(json!(format!(
                    "{}-{}-{}-{}-{}",
                    &h[0..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..32]
                )))
            }
            Type::TIMESTAMPTZ | Type::TIMESTAMP => {
                let us = i64::from_sql(&Type::INT8, raw)?;
                Ok(Cell {
                    value: json!((us + PG_EPOCH_US) as f64 / 1000.0),
                    date: true,
                })
            }
            Type::DATE => {
                let days = i32::from_sql(&Type::INT4, raw)? as i64;
                Ok(Cell {
                    value: json!(((days * 86_400_000_000) + PG_EPOCH_US) as f64 / 1000.0),
                    date: true,
                })
            }
            Type::BYTEA => plain(json!(String::from_utf8_lossy(raw))),
            _ => plain(json!(String::from_utf8_lossy(raw))),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Run `text` with `values`; `{ rows, dates }` where `dates` names the columns holding epoch ms.
pub async fn execute(
    client: &tokio_postgres::Client,
    text: &str,
    values: Vec<Value>,
) -> Result<String> {
    if values.is_empty() && text.contains(';') {
        // Parameterless scripts (several statements) go through the simple protocol. As in
        // node-postgres, one result per statement, and an array of them when there are several.
        let mut results = Vec::new();
        let mut rows = Vec::new();
        for message in client.simple_query(text).await? {
            match message {
                tokio_postgres::SimpleQueryMessage::Row(row) => {
                    let mut obj = Map::new();
                    for (i, col) in row.columns().iter().enumerate() {
                        obj.insert(
                            col.name().to_string(),
                            row.get(i).map(|s| json!(s)).unwrap_or(Value::Null),
                        );
                    }
                    rows.push(Value::Object(obj));
                }
                tokio_postgres::SimpleQueryMessage::CommandComplete(count) => {
                    let rows = std::mem::take(&mut rows);
                    results.push(json!({ "rows": rows, "dates": [], "rowCount": count }));
                }
                _ => {}
            }
        }
        return Ok(match results.len() {
            0 => json!({ "rows": [], "dates": [], "rowCount": null }),
            1 => results.pop().unwrap_or(Value::Null),
            _ => Value::Array(results),
        }
        .to_string());
    }
    let stmt = client.prepare(text).await?;
    if stmt.params().len() != values.len() {
        return Err(BossError::database(
            Some("08P01".into()),
            format!(
                "bind message supplies {} parameters, but prepared statement requires {}",
                values.len(),
                stmt.params().len()
            ),
        ));
    }
    let params: Vec<Param> = values.into_iter().map(Param).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let stream = client.query_raw(&stmt, refs).await?;
    futures_util::pin_mut!(stream);
    let mut rows = Vec::new();
    while let Some(row) = futures_util::TryStreamExt::try_next(&mut stream).await? {
        rows.push(row);
    }
    let row_count = stream.rows_affected();
    let mut out = Vec::with_capacity(rows.len());
    let mut dates: Vec<String> = Vec::new();
    for row in rows {
        let mut obj = Map::new();
        for (i, col) in row.columns().iter().enumerate() {
            let cell: Option<Cell> = row.try_get(i)?;
            let value = match cell {
                Some(c) => {
                    if c.date && !dates.iter().any(|d| d == col.name()) {
                        dates.push(col.name().to_string());
                    }
                    c.value
                }
                None => Value::Null,
            };
            obj.insert(col.name().to_string(), value);
        }
        out.push(Value::Object(obj));
    }
    Ok(json!({ "rows": out, "dates": dates, "rowCount": row_count }).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_timestamps_parse_to_epoch_micros() {
        assert_eq!(parse_iso_utc("1970-01-01T00:00:00.000Z").unwrap(), 0);
        assert_eq!(
            parse_iso_utc("2000-01-01T00:00:00.000Z").unwrap(),
            PG_EPOCH_US
        );
        assert_eq!(
            parse_iso_utc("2026-11-28T08:00:00.250Z").unwrap(),
            1_795_852_800_250_000
        );
    }

    #[test]
    fn numeric_binary_renders_as_text() {
        // 12345.67: ndigits 3, weight 1, sign 0, dscale 2, digits [1, 2345, 6700]
        let raw: Vec<u8> = [3i16, 1, 0, 2, 1, 2345, 6700]
            .iter()
            .flat_map(|d| d.to_be_bytes())
            .collect();
        assert_eq!(numeric_to_string(&raw).unwrap(), "12345.67");
    }
}
