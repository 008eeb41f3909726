//! `<clock>`: the guest's time base and its timers.

use std::borrow::Cow;

use crate::{Xml, XmlValue, YesNo};

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Clock {
    #[xml(attr = "offset")]
    pub offset: ClockOffset,
    /// With `utc`/`localtime`: `reset`; with `variable`: seconds from `basis`.
    #[xml(attr = "adjustment")]
    pub adjustment: Option<ClockAdjustment>,
    #[xml(attr = "basis")]
    pub basis: Option<ClockBasis>,
    #[xml(attr = "timezone")]
    pub timezone: Option<String>,
    /// With `absolute`: the guest's boot time in seconds since the epoch.
    #[xml(attr = "start")]
    pub start: Option<u64>,
    #[xml(child = "timer")]
    pub timers: Vec<Timer>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum ClockOffset {
    #[default]
    Utc,
    Localtime,
    Timezone,
    Variable,
    Absolute,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockAdjustment {
    Reset,
    Seconds(i64),
}

impl XmlValue for ClockAdjustment {
    fn from_xml_value(s: &str) -> Result<Self, String> {
        if s == "reset" {
            return Ok(ClockAdjustment::Reset);
        }
        s.parse().map(ClockAdjustment::Seconds).map_err(|_| "expected 'reset' or a number of seconds".to_string())
    }
    fn to_xml_value(&self) -> Cow<'_, str> {
        match self {
            ClockAdjustment::Reset => Cow::Borrowed("reset"),
            ClockAdjustment::Seconds(s) => Cow::Owned(s.to_string()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum ClockBasis {
    Utc,
    Localtime,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Timer {
    #[xml(attr = "name")]
    pub name: TimerName,
    #[xml(attr = "present")]
    pub present: Option<YesNo>,
    #[xml(attr = "tickpolicy")]
    pub tickpolicy: Option<TickPolicy>,
    #[xml(attr = "track")]
    pub track: Option<TimerTrack>,
    #[xml(attr = "frequency")]
    pub frequency: Option<u64>,
    #[xml(attr = "mode")]
    pub mode: Option<TimerMode>,
    #[xml(child = "catchup")]
    pub catchup: Option<TimerCatchup>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum TimerName {
    Platform,
    #[default]
    Rtc,
    Tsc,
    Hpet,
    Pit,
    Kvmclock,
    Hypervclock,
    Armvtimer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum TickPolicy {
    Delay,
    Catchup,
    Merge,
    Discard,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum TimerTrack {
    Boot,
    Guest,
    Wall,
    Realtime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum TimerMode {
    Auto,
    Native,
    Emulate,
    Paravirt,
    Smpsafe,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct TimerCatchup {
    #[xml(attr = "threshold")]
    pub threshold: Option<u64>,
    #[xml(attr = "slew")]
    pub slew: Option<u64>,
    #[xml(attr = "limit")]
    pub limit: Option<u64>,
}
