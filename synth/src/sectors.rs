//! Industry sections of GB/T 4754-2017 with how common they are, how capital-heavy and how
//! productive. The weights are strongly skewed so that small industries in small districts form
//! groups below k, as they do in real registries.

use super::geo::Settlement;

/// One industry section.
#[derive(Debug)]
pub(super) struct Sector {
    /// The section's official name, as it appears in the `industry` column.
    pub name: &'static str,
    /// Share of registered enterprises before the district adjustment.
    pub weight: f64,
    /// Multipliers of `weight` in urban, suburban and rural districts.
    pub settlement: [f64; 3],
    /// Median registered capital, 万元.
    pub capital_median: f64,
    /// Median monthly revenue per employee, yuan.
    pub revenue_per_head: f64,
    /// Words that follow the trade name in company names (杭州某某 *科技* 有限公司).
    pub words: &'static [&'static str],
}

impl Sector {
    /// The weight of the sector in a district of the given kind.
    pub(super) fn weight_in(&self, settlement: Settlement) -> f64 {
        let factor = match settlement {
            Settlement::Urban => self.settlement[0],
            Settlement::Suburban => self.settlement[1],
            Settlement::Rural => self.settlement[2],
        };
        self.weight * factor
    }
}

const fn sector(
    name: &'static str,
    weight: f64,
    settlement: [f64; 3],
    capital_median: f64,
    revenue_per_head: f64,
    words: &'static [&'static str],
) -> Sector {
    Sector {
        name,
        weight,
        settlement,
        capital_median,
        revenue_per_head,
        words,
    }
}

/// The sections used by the generator.
pub(super) const SECTORS: [Sector; 18] = [
    sector(
        "农、林、牧、渔业",
        1.5,
        [0.1, 1.0, 5.0],
        50.0,
        15_000.0,
        &["农业开发", "生态农业", "茶业", "水产养殖", "果蔬专业"],
    ),
    sector(
        "采矿业",
        0.12,
        [0.0, 0.5, 3.0],
        500.0,
        60_000.0,
        &["矿业", "石材"],
    ),
    sector(
        "制造业",
        12.0,
        [0.4, 1.6, 1.5],
        300.0,
        45_000.0,
        &[
            "机械",
            "电子",
            "纺织",
            "服饰",
            "新材料",
            "五金制品",
            "食品",
            "塑业",
        ],
    ),
    sector(
        "电力、热力、燃气及水生产和供应业",
        0.4,
        [0.6, 1.2, 1.2],
        2000.0,
        150_000.0,
        &["能源", "燃气", "新能源", "供水"],
    ),
    sector(
        "建筑业",
        5.0,
        [0.8, 1.2, 1.2],
        500.0,
        40_000.0,
        &["建设", "建筑工程", "装饰工程", "市政工程"],
    ),
    sector(
        "批发和零售业",
        28.0,
        [1.0, 1.0, 1.0],
        50.0,
        60_000.0,
        &["贸易", "商贸", "电子商务", "进出口", "百货"],
    ),
    sector(
        "交通运输、仓储和邮政业",
        3.0,
        [0.6, 1.4, 1.0],
        100.0,
        35_000.0,
        &["物流", "运输", "供应链管理", "仓储"],
    ),
    sector(
        "住宿和餐饮业",
        4.0,
        [1.2, 0.9, 1.0],
        20.0,
        15_000.0,
        &["餐饮管理", "酒店管理", "餐饮"],
    ),
    sector(
        "信息传输、软件和信息技术服务业",
        10.0,
        [1.9, 0.8, 0.2],
        100.0,
        50_000.0,
        &["科技", "网络科技", "信息技术", "软件", "数据科技"],
    ),
    sector(
        "金融业",
        1.2,
        [2.0, 0.6, 0.2],
        1000.0,
        120_000.0,
        &["投资管理", "资产管理", "金融信息服务"],
    ),
    sector(
        "房地产业",
        2.5,
        [1.0, 1.1, 0.8],
        1000.0,
        80_000.0,
        &["房地产开发", "置业", "物业管理"],
    ),
    sector(
        "租赁和商务服务业",
        13.0,
        [1.3, 0.9, 0.6],
        100.0,
        30_000.0,
        &["企业管理", "商务咨询", "文化传播", "广告", "人力资源"],
    ),
    sector(
        "科学研究和技术服务业",
        7.0,
        [1.5, 0.9, 0.4],
        100.0,
        40_000.0,
        &["生物科技", "检测技术", "环保科技", "工程设计"],
    ),
    sector(
        "水利、环境和公共设施管理业",
        0.4,
        [0.6, 1.0, 1.6],
        500.0,
        30_000.0,
        &["环境工程", "园林绿化"],
    ),
    sector(
        "居民服务、修理和其他服务业",
        3.0,
        [1.0, 1.0, 1.0],
        10.0,
        12_000.0,
        &["家政服务", "汽车维修", "美容"],
    ),
    sector(
        "教育",
        0.8,
        [1.3, 0.9, 0.5],
        30.0,
        20_000.0,
        &["教育科技", "培训"],
    ),
    sector(
        "卫生和社会工作",
        0.4,
        [1.2, 1.0, 0.8],
        200.0,
        25_000.0,
        &["医疗管理", "健康管理", "养老服务"],
    ),
    sector(
        "文化、体育和娱乐业",
        2.0,
        [1.4, 0.8, 0.6],
        50.0,
        25_000.0,
        &["文化创意", "体育发展", "影视"],
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sectors_are_distinct_and_named() {
        let mut names: Vec<_> = SECTORS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SECTORS.len());
        assert!(SECTORS
            .iter()
            .all(|s| !s.words.is_empty() && s.weight > 0.0));
    }
}
