"""Name, company and interest-tag lists for the demo attendee data set.

Plain data, no logic and no third-party imports: :mod:`store.demo.generate` draws from these
lists with a seeded RNG, and the tests import them to recognise who is who.

Three language groups, kept disjoint so a name tells which group it came from:

* Russian: given names by gender and surnames as ``(masculine, feminine)`` pairs
  (Иванов/Иванова, Вишневский/Вишневская, Черных/Черных).
* Kazakh: Cyrillic Kazakh spelling with the Kazakh letters (Ә, Ғ, Қ, Ң, Ө, Ұ, Ү, Һ, І) where they
  are natural, surnames again as ``(masculine, feminine)`` pairs.
* English: given names by gender and surnames (English surnames do not change with gender).

Several names carry ``ё`` on purpose (Пётр, Фёдор, Алёна, Семёнов, Королёв): people type them
with ``е``, and search must fold ``ё`` to ``е`` to find them.
"""

from __future__ import annotations

__all__ = [
    "COMPANIES",
    "ENGLISH_FEMALE_GIVEN",
    "ENGLISH_MALE_GIVEN",
    "ENGLISH_SURNAMES",
    "INTEREST_TAGS",
    "KAZAKH_FEMALE_GIVEN",
    "KAZAKH_LETTERS",
    "KAZAKH_MALE_GIVEN",
    "KAZAKH_SURNAMES",
    "RUSSIAN_FEMALE_GIVEN",
    "RUSSIAN_MALE_GIVEN",
    "RUSSIAN_SURNAMES",
]

#: The letters of the Kazakh Cyrillic alphabet that Russian does not have (upper and lower case).
KAZAKH_LETTERS = "ӘҒҚҢӨҰҮҺІәғқңөұүһі"

# The lists stay packed, several names a line, so they can be read; the formatter would give
# every name its own line.
# fmt: off

# --- Russian ------------------------------------------------------------------------------

RUSSIAN_MALE_GIVEN: list[str] = [
    "Александр", "Алексей", "Анатолий", "Андрей", "Антон", "Аркадий", "Артём", "Борис",
    "Вадим", "Валерий", "Василий", "Виктор", "Виталий", "Владимир", "Владислав", "Всеволод",
    "Вячеслав", "Геннадий", "Георгий", "Глеб", "Григорий", "Даниил", "Денис", "Дмитрий",
    "Евгений", "Егор", "Иван", "Игорь", "Илья", "Кирилл", "Константин", "Лев", "Леонид",
    "Максим", "Матвей", "Михаил", "Никита", "Николай", "Олег", "Павел", "Пётр", "Роман",
    "Семён", "Сергей", "Станислав", "Степан", "Тимофей", "Фёдор", "Юрий", "Ярослав",
]

RUSSIAN_FEMALE_GIVEN: list[str] = [
    "Алёна", "Александра", "Алина", "Алла", "Анастасия", "Ангелина", "Анна", "Валентина",
    "Валерия", "Вера", "Вероника", "Виктория", "Галина", "Дарья", "Евгения", "Екатерина",
    "Елена", "Елизавета", "Зоя", "Ирина", "Карина", "Кира", "Кристина", "Ксения", "Лариса",
    "Любовь", "Людмила", "Маргарита", "Марина", "Мария", "Надежда", "Наталья", "Нина",
    "Оксана", "Олеся", "Ольга", "Полина", "Светлана", "Снежана", "Софья", "Таисия", "Тамара",
    "Татьяна", "Ульяна", "Эльвира", "Юлия", "Яна", "Ярослава",
]

#: ``(masculine, feminine)``: -ов/-ев/-ёв/-ин take -а, -ский/-цкий become -ская/-цкая,
#: -ой becomes -ая, and -ых/-их/-ко do not change.
RUSSIAN_SURNAMES: list[tuple[str, str]] = [
    ("Иванов", "Иванова"), ("Петров", "Петрова"), ("Сидоров", "Сидорова"),
    ("Смирнов", "Смирнова"), ("Кузнецов", "Кузнецова"), ("Попов", "Попова"),
    ("Васильев", "Васильева"), ("Соколов", "Соколова"), ("Михайлов", "Михайлова"),
    ("Новиков", "Новикова"), ("Фёдоров", "Фёдорова"), ("Морозов", "Морозова"),
    ("Волков", "Волкова"), ("Алексеев", "Алексеева"), ("Лебедев", "Лебедева"),
    ("Семёнов", "Семёнова"), ("Егоров", "Егорова"), ("Павлов", "Павлова"),
    ("Козлов", "Козлова"), ("Степанов", "Степанова"), ("Николаев", "Николаева"),
    ("Орлов", "Орлова"), ("Андреев", "Андреева"), ("Макаров", "Макарова"),
    ("Никитин", "Никитина"), ("Захаров", "Захарова"), ("Зайцев", "Зайцева"),
    ("Соловьёв", "Соловьёва"), ("Борисов", "Борисова"), ("Яковлев", "Яковлева"),
    ("Григорьев", "Григорьева"), ("Романов", "Романова"), ("Воробьёв", "Воробьёва"),
    ("Сергеев", "Сергеева"), ("Кузьмин", "Кузьмина"), ("Фролов", "Фролова"),
    ("Дмитриев", "Дмитриева"), ("Королёв", "Королёва"), ("Гусев", "Гусева"),
    ("Киселёв", "Киселёва"), ("Ильин", "Ильина"), ("Максимов", "Максимова"),
    ("Поляков", "Полякова"), ("Сорокин", "Сорокина"), ("Виноградов", "Виноградова"),
    ("Ковалёв", "Ковалёва"), ("Белов", "Белова"), ("Медведев", "Медведева"),
    ("Антонов", "Антонова"), ("Тарасов", "Тарасова"), ("Жуков", "Жукова"),
    ("Баранов", "Баранова"), ("Филиппов", "Филиппова"), ("Комаров", "Комарова"),
    ("Давыдов", "Давыдова"), ("Беляев", "Беляева"), ("Герасимов", "Герасимова"),
    ("Богданов", "Богданова"), ("Осипов", "Осипова"), ("Матвеев", "Матвеева"),
    ("Титов", "Титова"), ("Марков", "Маркова"), ("Миронов", "Миронова"),
    ("Крылов", "Крылова"), ("Куликов", "Куликова"), ("Пономарёв", "Пономарёва"),
    ("Калинин", "Калинина"), ("Щербаков", "Щербакова"), ("Чернышёв", "Чернышёва"),
    ("Вишневский", "Вишневская"), ("Покровский", "Покровская"), ("Успенский", "Успенская"),
    ("Высоцкий", "Высоцкая"), ("Толстой", "Толстая"), ("Черных", "Черных"),
    ("Седых", "Седых"), ("Бондаренко", "Бондаренко"), ("Шевченко", "Шевченко"),
]

# --- Kazakh -------------------------------------------------------------------------------

KAZAKH_MALE_GIVEN: list[str] = [
    "Нұрлан", "Қайрат", "Ержан", "Ғалым", "Өмірзақ", "Асқар", "Бауыржан", "Дәурен", "Ерлан",
    "Мұрат", "Серік", "Талғат", "Нұрсұлтан", "Әлихан", "Арман", "Айдос", "Дархан", "Жандос",
    "Қанат", "Мақсат", "Болат", "Ерболат", "Ғабит", "Әділ", "Санжар", "Ерасыл", "Нұржан",
    "Ақжол", "Бекзат", "Дәулет", "Мейрам", "Рүстем", "Сұлтан", "Шыңғыс", "Ілияс", "Ибраһим",
    "Темірлан", "Азамат", "Ербол", "Қуаныш", "Жәнібек", "Төлеген", "Өркен", "Үсен",
]

KAZAKH_FEMALE_GIVEN: list[str] = [
    "Әсел", "Айгүл", "Сәуле", "Гүлнар", "Динара", "Жанар", "Мөлдір", "Аружан", "Ақбота",
    "Айжан", "Әйгерім", "Гүлжан", "Жұлдыз", "Қарлығаш", "Назым", "Салтанат", "Ботагөз",
    "Айнұр", "Ләззат", "Меруерт", "Мәдина", "Нұргүл", "Раушан", "Толқын", "Ұлжан", "Шынар",
    "Әлия", "Інжу", "Айару", "Балжан", "Гауһар", "Данагүл", "Ақмарал", "Індира", "Жансая",
    "Гүлмира", "Көркем", "Сымбат", "Арайлым", "Үміт", "Ғалия", "Дариға",
]

#: ``(masculine, feminine)``: the Russian-style endings -ов/-ев/-ин take -а.
KAZAKH_SURNAMES: list[tuple[str, str]] = [
    ("Нұрланов", "Нұрланова"), ("Сәрсенбаев", "Сәрсенбаева"), ("Әбдіров", "Әбдірова"),
    ("Жұмабаев", "Жұмабаева"), ("Қасымов", "Қасымова"), ("Әбенов", "Әбенова"),
    ("Байжанов", "Байжанова"), ("Бекмұратов", "Бекмұратова"), ("Дәулетов", "Дәулетова"),
    ("Ерғалиев", "Ерғалиева"), ("Жақсыбеков", "Жақсыбекова"), ("Жәнібеков", "Жәнібекова"),
    ("Омаров", "Омарова"), ("Оспанов", "Оспанова"), ("Мұхаметжанов", "Мұхаметжанова"),
    ("Нұрмағамбетов", "Нұрмағамбетова"), ("Серікбаев", "Серікбаева"),
    ("Сейітов", "Сейітова"), ("Тоқаев", "Тоқаева"), ("Төлеубаев", "Төлеубаева"),
    ("Ұзақбаев", "Ұзақбаева"), ("Үсенов", "Үсенова"), ("Құдайбергенов", "Құдайбергенова"),
    ("Қайратов", "Қайратова"), ("Қалиев", "Қалиева"), ("Қожахметов", "Қожахметова"),
    ("Әміров", "Әмірова"), ("Ахметов", "Ахметова"), ("Бейсенов", "Бейсенова"),
    ("Ғабитов", "Ғабитова"), ("Ғалымжанов", "Ғалымжанова"), ("Ермеков", "Ермекова"),
    ("Жаңабаев", "Жаңабаева"), ("Иманғалиев", "Иманғалиева"), ("Исабеков", "Исабекова"),
    ("Кенжебаев", "Кенжебаева"), ("Көшербаев", "Көшербаева"), ("Мәметов", "Мәметова"),
    ("Мұратбеков", "Мұратбекова"), ("Мырзахметов", "Мырзахметова"),
    ("Нұрпейісов", "Нұрпейісова"), ("Өтебаев", "Өтебаева"), ("Рахымов", "Рахымова"),
    ("Сағынтаев", "Сағынтаева"), ("Сәтбаев", "Сәтбаева"), ("Сұлтанов", "Сұлтанова"),
    ("Тәжібаев", "Тәжібаева"), ("Төлегенов", "Төлегенова"), ("Шәріпов", "Шәріпова"),
    ("Уәлиханов", "Уәлиханова"), ("Әуезов", "Әуезова"), ("Әбішев", "Әбішева"),
    ("Бөкейханов", "Бөкейханова"), ("Жүнісов", "Жүнісова"), ("Есенов", "Есенова"),
    ("Мамырбеков", "Мамырбекова"), ("Сыздықов", "Сыздықова"), ("Тұрсынов", "Тұрсынова"),
    ("Үмбетов", "Үмбетова"), ("Ілиясов", "Ілиясова"), ("Қуанышев", "Қуанышева"),
    ("Аманжолов", "Аманжолова"), ("Байтұрсынов", "Байтұрсынова"),
    ("Дүйсенбаев", "Дүйсенбаева"), ("Шаймерденов", "Шаймерденова"),
    ("Ибраһимов", "Ибраһимова"),
]

# --- English ------------------------------------------------------------------------------

ENGLISH_MALE_GIVEN: list[str] = [
    "James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas",
    "Charles", "Daniel", "Matthew", "Anthony", "Mark", "Paul", "Steven", "Andrew", "Joshua",
    "Kevin", "Brian", "George", "Edward", "Ryan", "Jacob", "Gary", "Nicholas", "Eric",
    "Jonathan", "Stephen", "Benjamin", "Samuel", "Oliver", "Henry", "Jack", "Harry", "Liam",
]

ENGLISH_FEMALE_GIVEN: list[str] = [
    "Anna", "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan",
    "Jessica", "Sarah", "Karen", "Emily", "Emma", "Olivia", "Sophia", "Charlotte", "Amelia",
    "Grace", "Chloe", "Lucy", "Hannah", "Laura", "Rachel", "Rebecca", "Megan", "Claire",
    "Alice", "Ruth", "Helen", "Victoria", "Natalie", "Kate", "Zoe", "Isabel", "Julia", "Nora",
]

#: Includes an apostrophe (O'Connor) and a hyphen (Lloyd-Jones): e-mail local parts drop them.
ENGLISH_SURNAMES: list[str] = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson",
    "Taylor", "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White", "Harris", "Clark",
    "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Hill",
    "Green", "Adams", "Baker", "Nelson", "Carter", "Mitchell", "Roberts", "Turner", "Phillips",
    "Campbell", "Parker", "Evans", "Edwards", "Collins", "Stewart", "Morris", "Murphy", "Cook",
    "Rogers", "Morgan", "Cooper", "Peterson", "Reed", "Bailey", "Bell", "Kelly", "Howard",
    "Ward", "Cox", "Richardson", "Wood", "Watson", "Brooks", "Bennett", "Gray", "Hughes",
    "Price", "O'Connor", "Lloyd-Jones",
]

# --- Companies and interests --------------------------------------------------------------

#: ``(display name, e-mail domain)``. Fictional; every domain carries ``-demo`` so no address
#: in the data set belongs to a real organisation.
COMPANIES: list[tuple[str, str]] = [
    ("Алатау Финтех", "alatau-fintech-demo.kz"),
    ("Steppe Pay", "steppepay-demo.kz"),
    ("Қазына Цифрлық Банк", "kazyna-bank-demo.kz"),
    ("Тенге Лабс", "tenge-labs-demo.kz"),
    ("Nomad Bank", "nomadbank-demo.kz"),
    ("Байтерек Софт", "baiterek-soft-demo.kz"),
    ("Esil Data", "esildata-demo.kz"),
    ("Шаңырақ Банк", "shanyrak-bank-demo.kz"),
    ("Altyn Cloud", "altyncloud-demo.kz"),
    ("Көктем Финанс", "koktem-finance-demo.kz"),
    ("Сарыарқа IT", "saryarka-it-demo.kz"),
    ("Tulpar Tech", "tulpar-tech-demo.kz"),
    ("Silk Way Fintech", "silkway-fintech-demo.kz"),
    ("Орда Процессинг", "orda-processing-demo.kz"),
    ("Северный Кредит", "sevcredit-demo.ru"),
    ("Волга Финтех", "volga-fintech-demo.ru"),
    ("Невский Процессинг", "nevsky-processing-demo.ru"),
    ("Уральские Системы", "uralsys-demo.ru"),
    ("Ладья Банк", "ladya-bank-demo.ru"),
    ("Sibir Soft", "sibirsoft-demo.ru"),
    ("Kremnium Labs", "kremnium-demo.ru"),
    ("ЦифраПэй", "tsifrapay-demo.ru"),
    ("Mercury Payments", "mercury-pay-demo.com"),
    ("Ledgerline", "ledgerline-demo.com"),
    ("Northwind Capital", "northwind-capital-demo.com"),
    ("Bluefin Analytics", "bluefin-demo.com"),
]

#: Interest tags an attendee picks at registration; they feed the personalised hub/talk feed.
INTEREST_TAGS: list[str] = [
    "backend", "frontend", "qa", "security", "databases", "ml", "infra", "devops", "people",
    "ux", "mobile", "data", "product", "agile", "career",
]
# fmt: on
