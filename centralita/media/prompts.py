"""System prompts in English, Spanish and Russian, spoken by espeak-ng and cached on disk.

``PromptLibrary.get(name, language, tenant)`` looks, in order, for

1. the tenant's own recording: ``<tenant_dir>/<tenant>/prompts/<language>/<name>.wav``
   (any WAV format :mod:`centralita.media.wavfile` reads; converted once, cached by mtime);
2. the generated system prompt: ``<cache_dir>/<language>/<name>.wav``;
3. and, failing both, synthesises (2) with ``espeak-ng`` (Debian package ``espeak-ng``),
   converts it to 8 kHz, trims the silence espeak leaves around the words, normalises the
   speech level and writes it there, so each prompt is generated once per installation.

Numbers: :meth:`PromptLibrary.say_number` synthesises the whole number as one clip
(``number_<n>``), cached like any prompt, rather than composing digit/tens/hundreds clips.
Composition sounds robotic and is wrong in two of our three languages without a grammar
engine: Spanish ("cien" vs "ciento", "veintiún"), Russian (gender and case agreement,
"одна минута" / "две минуты" / "пять минут"). espeak-ng already knows each language's number
grammar; one synthesis costs ~20 ms once per distinct number, and the numbers a PBX says
(queue positions, minutes, message counts) are few.

Synthesis blocks for a few tens of milliseconds the first time: call verbs run ``get`` in a
worker thread (``asyncio.to_thread``) or warm the cache at start-up with :meth:`warm`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from centralita.media.audio import SAMPLE_RATE, Pcm, to_int16
from centralita.media.errors import MediaError
from centralita.media.wavfile import decode_wav, load_wav, write_wav

LANGUAGES = ("en", "es", "ru")
DEFAULT_CACHE_DIR = Path("var/prompts")
DEFAULT_TENANT_DIR = Path("var/tenants")

# espeak-ng voice per language (``espeak-ng --voices``).
VOICES = {"en": "en-us", "es": "es", "ru": "ru"}

PROMPTS: dict[str, dict[str, str]] = {
    "welcome": {
        "en": "Welcome, and thank you for calling.",
        "es": "Bienvenido, gracias por su llamada.",
        "ru": "Здравствуйте, спасибо за ваш звонок.",
    },
    "please_hold": {
        "en": "Please hold. Your call will be answered shortly.",
        "es": "Por favor, espere. En breve atenderemos su llamada.",
        "ru": "Пожалуйста, оставайтесь на линии. Вам скоро ответят.",
    },
    "caller_position": {
        "en": "You are caller number",
        "es": "Su posición en la cola es la número",
        "ru": "Ваш номер в очереди",
    },
    "estimated_wait": {
        "en": "The estimated waiting time is",
        "es": "El tiempo de espera estimado es de",
        "ru": "Примерное время ожидания",
    },
    "all_busy": {
        "en": "All our agents are busy at the moment.",
        "es": "En este momento todos nuestros agentes están ocupados.",
        "ru": "Сейчас все операторы заняты.",
    },
    "leave_message": {
        "en": "Please leave a message after the tone. When you are done, hang up or press "
        "the pound key.",
        "es": "Por favor, deje su mensaje después de la señal. Al terminar, cuelgue o pulse "
        "la tecla almohadilla.",
        "ru": "Пожалуйста, оставьте сообщение после сигнала. Закончив, положите трубку или "
        "нажмите решётку.",
    },
    "message_saved": {
        "en": "Your message has been saved.",
        "es": "Su mensaje ha sido guardado.",
        "ru": "Ваше сообщение сохранено.",
    },
    "invalid_option": {
        "en": "That option is not valid. Please try again.",
        "es": "La opción no es válida. Por favor, inténtelo de nuevo.",
        "ru": "Неверный выбор. Пожалуйста, попробуйте ещё раз.",
    },
    "not_available": {
        "en": "The person you are calling is not available.",
        "es": "La persona a la que llama no está disponible.",
        "ru": "Абонент, которому вы звоните, недоступен.",
    },
    # Calls nobody takes, to an answered caller (centralita.routing.extension.refuse).
    "user_busy": {
        "en": "The person you are calling is busy. Please try again later.",
        "es": "La persona a la que llama está ocupada. Por favor, inténtelo más tarde.",
        "ru": "Абонент, которому вы звоните, занят. Пожалуйста, перезвоните позже.",
    },
    "no_such_number": {
        "en": "The number you have dialled does not exist.",
        "es": "El número que ha marcado no existe.",
        "ru": "Набранный вами номер не существует.",
    },
    "cannot_connect": {
        "en": "Your call cannot be connected at the moment. Please try again later.",
        "es": "En este momento no es posible conectar su llamada. Inténtelo más tarde.",
        "ru": "Сейчас невозможно соединить вас. Пожалуйста, перезвоните позже.",
    },
    # Said to whoever answers a forwarded call on a phone outside (centralita.live_dial).
    "press_1_to_accept": {
        "en": "You have a call from the company switchboard. Press 1 to accept it.",
        "es": "Tiene una llamada de la centralita de la empresa. Pulse 1 para aceptarla.",
        "ru": "Вам звонят из офиса. Нажмите 1, чтобы принять вызов.",
    },
    # Voicemail: leaving a message and listening by phone (centralita.routing.voicemail).
    "vm_person_at_extension": {
        "en": "The person at extension",
        "es": "La persona de la extensión",
        "ru": "Абонент по добавочному номеру",
    },
    "vm_is_unavailable": {
        "en": "is not available.",
        "es": "no está disponible.",
        "ru": "сейчас недоступен.",
    },
    "vm_enter_box": {
        "en": "Please enter your mailbox number, followed by the pound key.",
        "es": "Marque el número de su buzón, seguido de la tecla almohadilla.",
        "ru": "Наберите номер почтового ящика и нажмите решётку.",
    },
    "vm_wrong_pin": {
        "en": "That PIN is not correct.",
        "es": "El PIN no es correcto.",
        "ru": "Неверный пин-код.",
    },
    "vm_no_mailbox": {
        "en": "There is no voicemail box for this extension.",
        "es": "Esta extensión no tiene buzón de voz.",
        "ru": "Для этого номера нет голосового ящика.",
    },
    "vm_no_new_messages": {
        "en": "You have no new messages.",
        "es": "No tiene mensajes nuevos.",
        "ru": "Новых сообщений нет.",
    },
    "vm_new_messages": {
        "en": "New messages:",
        "es": "Mensajes nuevos:",
        "ru": "Новых сообщений:",
    },
    "vm_message_number": {"en": "Message", "es": "Mensaje", "ru": "Сообщение"},
    "vm_message_menu": {
        "en": "To listen again, press 1. For the next message, press 2. To delete it, press 7. "
        "To keep it, press 9. To record your greeting, press 0. To finish, press the pound key.",
        "es": "Para escucharlo de nuevo, pulse 1. Para el siguiente mensaje, pulse 2. Para "
        "borrarlo, pulse 7. Para guardarlo, pulse 9. Para grabar su saludo, pulse 0. Para "
        "terminar, pulse la tecla almohadilla.",
        "ru": "Чтобы прослушать снова, нажмите 1. Следующее сообщение — 2. Удалить — 7. "
        "Сохранить — 9. Записать приветствие — 0. Чтобы закончить, нажмите решётку.",
    },
    "vm_message_deleted": {
        "en": "Message deleted.",
        "es": "Mensaje borrado.",
        "ru": "Сообщение удалено.",
    },
    "vm_no_more_messages": {
        "en": "There are no more messages.",
        "es": "No hay más mensajes.",
        "ru": "Больше сообщений нет.",
    },
    "vm_main_menu": {
        "en": "To record your greeting, press 0. To finish, press the pound key.",
        "es": "Para grabar su saludo, pulse 0. Para terminar, pulse la tecla almohadilla.",
        "ru": "Чтобы записать приветствие, нажмите 0. Чтобы закончить, нажмите решётку.",
    },
    "enter_pin": {
        "en": "Please enter your PIN, followed by the pound key.",
        "es": "Introduzca su número PIN, seguido de la tecla almohadilla.",
        "ru": "Введите пин-код и нажмите решётку.",
    },
    "enter_extension": {
        "en": "Please enter the extension number.",
        "es": "Marque el número de extensión.",
        "ru": "Наберите добавочный номер.",
    },
    "enter_digits": {
        "en": "Keypad test. Press some keys, then the pound key.",
        "es": "Prueba de teclado. Pulse algunas teclas y después la tecla almohadilla.",
        "ru": "Проверка клавиатуры. Нажмите несколько клавиш, затем решётку.",
    },
    # Recording an IVR greeting by phone (centralita.routing.greeting).
    "record_greeting": {
        "en": "Record your greeting after the tone. Press the pound key when you are done.",
        "es": "Grabe su saludo después de la señal. Al terminar, pulse la tecla almohadilla.",
        "ru": "Запишите приветствие после сигнала. Закончив, нажмите решётку.",
    },
    "greeting_review": {
        "en": "To listen to your recording, press 1. To record it again, press 2. "
        "To save it, press 3.",
        "es": "Para escuchar su grabación, pulse 1. Para grabarla de nuevo, pulse 2. "
        "Para guardarla, pulse 3.",
        "ru": "Чтобы прослушать запись, нажмите 1. Чтобы записать заново, нажмите 2. "
        "Чтобы сохранить, нажмите 3.",
    },
    "greeting_saved": {
        "en": "Your greeting has been saved.",
        "es": "Su saludo ha sido guardado.",
        "ru": "Приветствие сохранено.",
    },
    "nothing_recorded": {
        "en": "Nothing was recorded.",
        "es": "No se ha grabado nada.",
        "ru": "Ничего не записано.",
    },
    # Feature codes (centralita.routing.feature_codes): what the user hears after dialling one.
    "dnd_on": {
        "en": "Do not disturb is on. Your calls will not ring.",
        "es": "No molestar activado. Sus llamadas no sonarán.",
        "ru": "Режим «не беспокоить» включён. Ваши вызовы не будут звонить.",
    },
    "dnd_off": {
        "en": "Do not disturb is off.",
        "es": "No molestar desactivado.",
        "ru": "Режим «не беспокоить» выключен.",
    },
    "forward_on": {
        "en": "Your calls are now forwarded to",
        "es": "Sus llamadas se desvían ahora al",
        "ru": "Ваши вызовы теперь переадресуются на номер",
    },
    "forward_off": {
        "en": "Call forwarding is off.",
        "es": "El desvío de llamadas está desactivado.",
        "ru": "Переадресация вызовов выключена.",
    },
    "enter_number": {
        "en": "Please enter the number, followed by the pound key.",
        "es": "Marque el número, seguido de la tecla almohadilla.",
        "ru": "Наберите номер и нажмите решётку.",
    },
    "digit_plus": {"en": "plus", "es": "más", "ru": "плюс"},
    "you_pressed": {"en": "You pressed", "es": "Ha pulsado", "ru": "Вы нажали"},
    "thank_you": {"en": "Thank you.", "es": "Gracias.", "ru": "Спасибо."},
    "goodbye": {"en": "Goodbye.", "es": "Adiós.", "ru": "До свидания."},
    "conference_moderator_pin": {
        "en": "If you are the moderator, enter your PIN followed by the pound key. "
        "Otherwise, press the pound key.",
        "es": "Si es el moderador, introduzca su PIN seguido de la tecla almohadilla. "
        "Si no, pulse la tecla almohadilla.",
        "ru": "Если вы ведущий, введите пин-код и нажмите решётку. Иначе нажмите решётку.",
    },
    "conference_wrong_pin": {
        "en": "That PIN is not correct.",
        "es": "El PIN no es correcto.",
        "ru": "Неверный пин-код.",
    },
    "conference_full": {
        "en": "The conference is full. Please try again later.",
        "es": "La conferencia está completa. Por favor, inténtelo más tarde.",
        "ru": "Конференция заполнена. Пожалуйста, перезвоните позже.",
    },
}
PROMPTS.update({f"digit_{d}": {lang: str(d) for lang in LANGUAGES} for d in range(10)})
PROMPTS["digit_star"] = {"en": "star", "es": "asterisco", "ru": "звёздочка"}
PROMPTS["digit_pound"] = {"en": "pound", "es": "almohadilla", "ru": "решётка"}
ALIASES = {"greeting": "welcome"}

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_TARGET_RMS_DBFS = -20.0  # active speech level; peaks limited to -1 dBFS
_TRIM_THRESHOLD = 200  # int16 units: ~-44 dBFS counts as silence at the clip's edges
_EDGE_SAMPLES = SAMPLE_RATE // 25  # keep 40 ms of air around the words
_MAX_NUMBER = 10**12


class PromptError(MediaError):
    """A prompt cannot be produced (unknown name or language, bad tenant override...)."""


class PromptSynthesisError(PromptError):
    """espeak-ng is missing or failed."""


class EspeakSynthesizer:
    """Runs ``espeak-ng`` to write a WAV. ``runs`` counts syntheses (tests, statistics)."""

    def __init__(self, executable: str = "espeak-ng", words_per_minute: int = 155) -> None:
        self.executable = executable
        self.words_per_minute = words_per_minute
        self.runs = 0

    def synthesize(self, text: str, language: str, out_path: Path) -> None:
        program = shutil.which(self.executable)
        if program is None:
            raise PromptSynthesisError(
                f"{self.executable} not found: install the Debian package espeak-ng "
                "(make debian-deps) to generate system prompts"
            )
        voice = VOICES.get(language, language)
        command = [program, "-v", voice, "-s", str(self.words_per_minute), "-b", "1"]
        command += ["--stdin", "-w", str(out_path)]  # -b 1: the text is UTF-8
        self.runs += 1
        # The text goes on stdin, never on the command line (no option injection).
        result = subprocess.run(command, input=text.encode(), capture_output=True, timeout=60)
        if result.returncode != 0 or not out_path.exists():
            detail = result.stderr.decode(errors="replace").strip() or f"exit {result.returncode}"
            raise PromptSynthesisError(f"espeak-ng failed for {language!r}: {detail}")


class PromptLibrary:
    def __init__(
        self,
        cache_dir: str | os.PathLike[str] = DEFAULT_CACHE_DIR,
        tenant_dir: str | os.PathLike[str] | None = None,
        *,
        synthesizer: EspeakSynthesizer | None = None,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.tenant_dir = None if tenant_dir is None else Path(tenant_dir)
        self.synthesizer = synthesizer or EspeakSynthesizer()
        self._lock = threading.Lock()

    def get(self, name: str, language: str, tenant: str | None = None) -> Pcm:
        """The prompt as 8 kHz PCM: the tenant's override, else the system prompt."""
        return load_wav(self.path(name, language, tenant))

    def path(self, name: str, language: str, tenant: str | None = None) -> Path:
        """The WAV file :meth:`get` plays, generating the system prompt if needed."""
        name = ALIASES.get(name, name)
        language = _check_language(language)
        override = self._override(name, language, tenant)
        if override is not None:
            return override
        text = _text_of(name, language)
        return self._generated(name, language, text)

    def say_number(self, n: int, language: str, tenant: str | None = None) -> list[Pcm]:
        """Clips that say the cardinal number ``n`` (0 <= n < 10**12)."""
        if not 0 <= n < _MAX_NUMBER:
            raise PromptError(f"cannot say {n}: numbers from 0 to {_MAX_NUMBER - 1}")
        return [self._spoken(f"number_{n}", str(n), language, tenant)]

    def say_digits(self, digits: str, language: str, tenant: str | None = None) -> list[Pcm]:
        """One clip per key: "0"-"9", "*", "#" (e.g. reading back an extension)."""
        names = {"*": "digit_star", "#": "digit_pound"}
        return [self.get(names.get(d, f"digit_{d}"), language, tenant) for d in digits]

    def say_minutes(self, n: int, language: str, tenant: str | None = None) -> list[Pcm]:
        """ "N minutes" with the language's plural (and, in Russian, gender) agreement."""
        if not 0 <= n < _MAX_NUMBER:
            raise PromptError(f"cannot say {n} minutes")
        language = _check_language(language)
        return [self._spoken(f"minutes_{n}", _minutes_text(n, language), language, tenant)]

    def speak(self, text: str, language: str) -> Pcm:
        """Arbitrary text (an IVR menu written in the configuration), cached by its hash."""
        digest = hashlib.sha256(f"{language}\0{text}".encode()).hexdigest()[:24]
        language = _check_language(language)
        return load_wav(self._generated(f"text_{digest}", language, text))

    def warm(self, languages: Iterable[str] = LANGUAGES) -> None:
        """Generate every system prompt now (e.g. at start-up), so calls never wait."""
        for language in languages:
            for name in PROMPTS:
                self.path(name, language)

    def _spoken(self, name: str, text: str, language: str, tenant: str | None) -> Pcm:
        language = _check_language(language)
        override = self._override(name, language, tenant)
        return load_wav(override or self._generated(name, language, text))

    def _override(self, name: str, language: str, tenant: str | None) -> Path | None:
        if tenant is None or self.tenant_dir is None:
            return None
        _check_safe("tenant", tenant)
        candidate = (
            self.tenant_dir / tenant / "prompts" / language / f"{_check_safe('prompt', name)}.wav"
        )
        return candidate if candidate.is_file() else None

    def _generated(self, name: str, language: str, text: str) -> Path:
        target = self.cache_dir / language / f"{_check_safe('prompt', name)}.wav"
        if target.is_file():
            return target
        with self._lock:  # one synthesis per prompt even when threads race for it
            if not target.is_file():
                self._synthesize(text, language, target)
        return target

    def _synthesize(self, text: str, language: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".espeak-") as scratch:
            raw = Path(scratch) / "raw.wav"
            self.synthesizer.synthesize(text, language, raw)
            pcm = decode_wav(raw)
        write_wav(target, _finish(pcm, target.name))


def _check_language(language: str) -> str:
    code = language.lower()
    if code not in LANGUAGES:
        raise PromptError(f"no system prompts in language {language!r} (have {LANGUAGES})")
    return code


def _check_safe(kind: str, value: str) -> str:
    if not _SAFE_NAME.match(value):
        raise PromptError(f"invalid {kind} name {value!r}")
    return value


def _text_of(name: str, language: str) -> str:
    try:
        return PROMPTS[name][language]
    except KeyError:
        raise PromptError(f"unknown prompt {name!r}") from None


def _minutes_text(n: int, language: str) -> str:
    if language == "en":
        return f"{n} minute" if n == 1 else f"{n} minutes"
    if language == "es":
        return "un minuto" if n == 1 else f"{n} minutos"
    return _russian_minutes(n)


def _russian_minutes(n: int) -> str:
    # "минута" is feminine: 1 → одна минута, 2-4 → две/три/четыре минуты, 5-20 → минут;
    # 11-14 take the genitive plural. espeak says digits in the masculine, so the final
    # one/two are written out.
    last, last_two = n % 10, n % 100
    if 11 <= last_two <= 14 or last in (0, 5, 6, 7, 8, 9):
        return f"{n} минут"
    head = f"{n - last} " if n >= 10 else ""
    words = {1: "одна минута", 2: "две минуты", 3: "три минуты", 4: "четыре минуты"}
    return head + words[last]


def _finish(pcm: Pcm, label: str) -> Pcm:
    """Trim the silence around the words and bring speech to a consistent level."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > _TRIM_THRESHOLD)
    if len(loud) == 0:
        raise PromptSynthesisError(f"espeak-ng produced silence for {label}")
    start = max(0, int(loud[0]) - _EDGE_SAMPLES)
    end = min(len(pcm), int(loud[-1]) + _EDGE_SAMPLES)
    speech = pcm[start:end].astype(np.float64)
    active = speech[np.abs(speech) > _TRIM_THRESHOLD]
    rms = float(np.sqrt(np.mean(active**2)))
    gain = 32768.0 * 10.0 ** (_TARGET_RMS_DBFS / 20.0) / rms
    peak_limit = 32767.0 * 10.0 ** (-1.0 / 20.0) / float(np.max(np.abs(speech)))
    return to_int16(speech * min(gain, peak_limit))
