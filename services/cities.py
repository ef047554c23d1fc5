"""City names in Chinese and English, so "深圳", "shenzhen" and "Shen Zhen" are one city.

Pickup policy names cities in English (`policy.pickup_cities`); sellers type them either way.
"""

from __future__ import annotations

import re
import unicodedata

# Canonical English name -> Chinese name. Mainland cities where sellers are concentrated,
# plus every provincial capital, so a seller's city is recognised wherever it is.
CITIES: dict[str, str] = {
    "Shenzhen": "深圳",
    "Guangzhou": "广州",
    "Dongguan": "东莞",
    "Foshan": "佛山",
    "Huizhou": "惠州",
    "Zhongshan": "中山",
    "Zhuhai": "珠海",
    "Jiangmen": "江门",
    "Shantou": "汕头",
    "Chaozhou": "潮州",
    "Jieyang": "揭阳",
    "Shanwei": "汕尾",
    "Zhaoqing": "肇庆",
    "Qingyuan": "清远",
    "Shanghai": "上海",
    "Beijing": "北京",
    "Tianjin": "天津",
    "Chongqing": "重庆",
    "Hangzhou": "杭州",
    "Yiwu": "义乌",
    "Jinhua": "金华",
    "Ningbo": "宁波",
    "Wenzhou": "温州",
    "Taizhou": "台州",
    "Shaoxing": "绍兴",
    "Jiaxing": "嘉兴",
    "Huzhou": "湖州",
    "Nanjing": "南京",
    "Suzhou": "苏州",
    "Wuxi": "无锡",
    "Changzhou": "常州",
    "Nantong": "南通",
    "Xuzhou": "徐州",
    "Yangzhou": "扬州",
    "Xiamen": "厦门",
    "Fuzhou": "福州",
    "Quanzhou": "泉州",
    "Putian": "莆田",
    "Jinjiang": "晋江",
    "Qingdao": "青岛",
    "Jinan": "济南",
    "Yantai": "烟台",
    "Linyi": "临沂",
    "Weifang": "潍坊",
    "Zhengzhou": "郑州",
    "Wuhan": "武汉",
    "Changsha": "长沙",
    "Nanchang": "南昌",
    "Hefei": "合肥",
    "Chengdu": "成都",
    "Xi'an": "西安",
    "Kunming": "昆明",
    "Guiyang": "贵阳",
    "Nanning": "南宁",
    "Haikou": "海口",
    "Shijiazhuang": "石家庄",
    "Taiyuan": "太原",
    "Hohhot": "呼和浩特",
    "Shenyang": "沈阳",
    "Dalian": "大连",
    "Changchun": "长春",
    "Harbin": "哈尔滨",
    "Lanzhou": "兰州",
    "Xining": "西宁",
    "Yinchuan": "银川",
    "Urumqi": "乌鲁木齐",
    "Lhasa": "拉萨",
}

_BY_KEY: dict[str, str] = {}


def _key(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[\s'’\-·.]+", "", text)
    for suffix in ("市", "city"):
        if text.endswith(suffix) and len(text) > len(suffix) + 1:
            text = text[: -len(suffix)]
    return text


for _en, _zh in CITIES.items():
    _BY_KEY[_key(_en)] = _en
    _BY_KEY[_key(_zh)] = _en
# Traditional-character spellings of the cities sellers name most.
_BY_KEY.update({_key(k): v for k, v in {"廣州": "Guangzhou", "東莞": "Dongguan", "廈門": "Xiamen"}.items()})


def canonical_city(text: str) -> str | None:
    """The canonical English name of the city the seller typed, or None if it is not known."""
    return _BY_KEY.get(_key(text))


def city_name(city: str, lang: str) -> str:
    """A city's name in the reply language; unknown cities are returned as given."""
    canonical = canonical_city(city) or city
    if lang == "zh":
        return CITIES.get(canonical, canonical)
    return canonical
