//! Synthetic Chinese names of people and companies. They look real and are drawn from common
//! characters, so they may collide with real names; they never come from real records.

use rand::Rng;

use super::dist::Weighted;

/// Common surnames, most frequent first; weights fall off with rank.
const SURNAMES: [&str; 100] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁",
    "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆", "汪", "范", "金", "石", "廖", "贾", "夏",
    "韦", "付", "方", "白", "邹", "孟", "熊", "秦", "邱", "江", "尹", "薛", "闫", "段", "雷", "侯",
    "龙", "史", "陶", "黎", "贺", "顾", "毛", "郝", "龚", "邵", "万", "钱", "严", "覃", "武", "戴",
    "莫", "孔", "向", "汤",
];

const MALE_CHARS: [&str; 40] = [
    "伟", "强", "磊", "军", "勇", "杰", "涛", "明", "超", "斌", "浩", "鹏", "宇", "晨", "俊", "志",
    "建", "国", "华", "峰", "辉", "刚", "鑫", "博", "文", "轩", "然", "子", "睿", "泽", "豪", "天",
    "一", "航", "洋", "阳", "毅", "凯", "立", "成",
];

const FEMALE_CHARS: [&str; 40] = [
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "婷", "雪", "琳", "颖", "倩", "洁", "玲", "梅",
    "欣", "怡", "佳", "悦", "萱", "涵", "思", "雨", "诗", "梦", "晴", "可", "馨", "妍", "琪", "薇",
    "月", "彤", "瑶", "蕾", "文", "子", "一", "华",
];

/// Characters for trade names (字号).
const TRADE_CHARS: [&str; 64] = [
    "华", "鑫", "宏", "瑞", "博", "远", "恒", "泰", "安", "达", "信", "诚", "正", "新", "创", "盛",
    "明", "嘉", "德", "和", "光", "汇", "智", "云", "峰", "海", "天", "金", "银", "中", "联", "通",
    "美", "亿", "丰", "源", "晨", "星", "东", "西", "湖", "江", "钱", "潮", "越", "吴", "杭", "运",
    "力", "成", "舟", "禾", "青", "启", "拓", "卓", "澜", "曜", "骏", "巨", "锐", "景", "诺", "睿",
];

/// Draws names; holds the surname table so it is built once.
#[derive(Debug)]
pub(super) struct NameMaker {
    surnames: Weighted,
}

impl NameMaker {
    pub(super) fn new() -> Self {
        NameMaker {
            surnames: Weighted::new((0..SURNAMES.len()).map(|rank| 1.0 / (rank as f64 + 4.0))),
        }
    }

    /// A person's name: surname and one or two given-name characters.
    pub(super) fn person<R: Rng + ?Sized>(&self, rng: &mut R, male: bool) -> String {
        let chars: &[&str] = if male { &MALE_CHARS } else { &FEMALE_CHARS };
        let mut name = String::with_capacity(9);
        name.push_str(SURNAMES[self.surnames.sample(rng)]);
        let given = if rng.random_bool(0.3) { 1 } else { 2 };
        for _ in 0..given {
            name.push_str(chars[rng.random_range(0..chars.len())]);
        }
        name
    }

    /// A company name: city, trade name, industry word and legal form.
    pub(super) fn company<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        words: &[&str],
        capital: f64,
    ) -> String {
        let mut name = String::with_capacity(36);
        name.push_str("杭州");
        for _ in 0..2 {
            name.push_str(TRADE_CHARS[rng.random_range(0..TRADE_CHARS.len())]);
        }
        if !words.is_empty() {
            name.push_str(words[rng.random_range(0..words.len())]);
        }
        // Companies limited by shares need real capital; small ones are plain LLCs.
        let form = if capital >= 1000.0 && rng.random_bool(0.15) {
            "股份有限公司"
        } else if rng.random_bool(0.1) {
            "有限责任公司"
        } else {
            "有限公司"
        };
        name.push_str(form);
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn names_have_expected_shape() {
        let mut rng = StdRng::seed_from_u64(5);
        let maker = NameMaker::new();
        for _ in 0..1000 {
            let n = maker.person(&mut rng, true).chars().count();
            assert!((2..=3).contains(&n));
            let c = maker.company(&mut rng, &["科技"], 50.0);
            assert!(c.starts_with("杭州") && c.ends_with("公司"), "{c}");
        }
    }
}
