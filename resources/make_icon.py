"""Draw the app icon (resources/icon.png, 256 px): a page of text and its short summary.

QT_QPA_PLATFORM=offscreen python resources/make_icon.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QImage, QLinearGradient, QPainter, QPen


def draw(size: int = 256) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    s = size / 256
    background = QLinearGradient(QPointF(0, 0), QPointF(0, size))
    background.setColorAt(0, QColor("#3b7be0"))
    background.setColorAt(1, QColor("#1d4c9c"))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QBrush(background))
    p.drawRoundedRect(QRectF(8 * s, 8 * s, 240 * s, 240 * s), 48 * s, 48 * s)
    # The article: a white page with many lines.
    p.setBrush(QColor("#ffffff"))
    p.drawRoundedRect(QRectF(44 * s, 36 * s, 124 * s, 164 * s), 14 * s, 14 * s)
    p.setPen(QPen(QColor("#9db3d6"), 9 * s, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    for i, width in enumerate((92, 80, 92, 70, 88, 60)):
        y = (64 + i * 22) * s
        p.drawLine(QPointF(62 * s, y), QPointF((62 + width) * s, y))
    # The summary: a warm card in front with two bold lines.
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(0, 0, 0, 60))
    p.drawRoundedRect(QRectF(112 * s, 128 * s, 112 * s, 84 * s), 16 * s, 16 * s)
    p.setBrush(QColor("#ffb938"))
    p.drawRoundedRect(QRectF(106 * s, 120 * s, 112 * s, 84 * s), 16 * s, 16 * s)
    p.setPen(QPen(QColor("#ffffff"), 12 * s, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    p.drawLine(QPointF(128 * s, 148 * s), QPointF(196 * s, 148 * s))
    p.drawLine(QPointF(128 * s, 176 * s), QPointF(174 * s, 176 * s))
    p.end()
    return image


if __name__ == "__main__":
    app = QGuiApplication(sys.argv)
    out = Path(__file__).with_name("icon.png")
    draw(256).save(str(out))
    print(out)
